using System.Text;

namespace KvTier.KvCapture;

/// <summary>One node of an ONNX graph, as far as the capture needs it.</summary>
internal sealed record OnnxNode(string Name, string OperatorType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs);

/// <summary>
/// Reads the node list of an ONNX ModelProto and appends extra float graph outputs, by walking the protobuf wire
/// format directly: the capture needs four message fields, not a generated onnx.proto binding.
/// Field numbers from onnx.proto: ModelProto.graph = 7; GraphProto.node = 1, output = 12; NodeProto.input = 1,
/// output = 2, name = 3, op_type = 4; ValueInfoProto.name = 1, type = 2; TypeProto.tensor_type = 1;
/// TypeProto.Tensor.elem_type = 1 (FLOAT = 1).
/// </summary>
internal static class OnnxGraphEditor
{
    private const int ModelGraphField = 7;
    private const int GraphNodeField = 1;
    private const int GraphOutputField = 12;
    private const int WireVarint = 0;
    private const int WireFixed64 = 1;
    private const int WireLengthDelimited = 2;
    private const int WireFixed32 = 5;

    public static IReadOnlyList<OnnxNode> ReadNodes(ReadOnlySpan<byte> model)
    {
        var nodes = new List<OnnxNode>();
        var graph = FindGraph(model, out _, out _);
        var reader = new WireReader(graph);
        while (reader.TryReadField(out var field, out var wireType, out var payload, out _))
        {
            if (field == GraphNodeField && wireType == WireLengthDelimited)
            {
                nodes.Add(ReadNode(payload));
            }
        }

        return nodes;
    }

    /// <summary>Returns a copy of the model whose graph also outputs <paramref name="names"/> as float tensors.</summary>
    public static byte[] AppendFloatOutputs(ReadOnlySpan<byte> model, IEnumerable<string> names)
    {
        var graph = FindGraph(model, out var graphFieldStart, out var graphFieldEnd);
        var extra = new List<byte>();
        foreach (var name in names)
        {
            byte[] tensorType = [.. Varint((1 << 3) | WireVarint), .. Varint(1)]; // TypeProto.Tensor { elem_type = FLOAT }
            var type = Field(1, tensorType);                    // TypeProto { tensor_type }
            var valueInfo = Field(1, Encoding.UTF8.GetBytes(name)).Concat(Field(2, type)).ToArray();
            extra.AddRange(Field(GraphOutputField, valueInfo));
        }

        var newGraph = graph.ToArray().Concat(extra).ToArray();
        return [.. model[..graphFieldStart], .. Field(ModelGraphField, newGraph), .. model[graphFieldEnd..]];
    }

    private static ReadOnlySpan<byte> FindGraph(ReadOnlySpan<byte> model, out int fieldStart, out int fieldEnd)
    {
        var reader = new WireReader(model);
        while (true)
        {
            var start = reader.Position;
            if (!reader.TryReadField(out var field, out var wireType, out var payload, out _))
            {
                throw new InvalidDataException("The ONNX model has no graph (ModelProto field 7).");
            }

            if (field == ModelGraphField && wireType == WireLengthDelimited)
            {
                fieldStart = start;
                fieldEnd = reader.Position;
                return payload;
            }
        }
    }

    private static OnnxNode ReadNode(ReadOnlySpan<byte> node)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        string name = "", operatorType = "";
        var reader = new WireReader(node);
        while (reader.TryReadField(out var field, out var wireType, out var payload, out _))
        {
            if (wireType != WireLengthDelimited)
            {
                continue;
            }

            var text = Encoding.UTF8.GetString(payload);
            switch (field)
            {
                case 1: inputs.Add(text); break;
                case 2: outputs.Add(text); break;
                case 3: name = text; break;
                case 4: operatorType = text; break;
                default: break;
            }
        }

        return new OnnxNode(name, operatorType, inputs, outputs);
    }

    private static byte[] Field(int number, ReadOnlySpan<byte> payload) =>
        [.. Varint((ulong)((number << 3) | WireLengthDelimited)), .. Varint((ulong)payload.Length), .. payload];

    private static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>(10);
        while (value >= 0x80)
        {
            bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }

        bytes.Add((byte)value);
        return [.. bytes];
    }

    private ref struct WireReader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> data = data;

        public int Position { get; private set; }

        public bool TryReadField(out int field, out int wireType, out ReadOnlySpan<byte> payload, out ulong scalar)
        {
            payload = default;
            scalar = 0;
            field = wireType = 0;
            if (Position >= data.Length)
            {
                return false;
            }

            var key = ReadVarint();
            field = (int)(key >> 3);
            wireType = (int)(key & 7);
            switch (wireType)
            {
                case WireVarint: scalar = ReadVarint(); break;
                case WireFixed64: scalar = BitConverter.ToUInt64(Take(8)); break;
                case WireFixed32: scalar = BitConverter.ToUInt32(Take(4)); break;
                case WireLengthDelimited: payload = Take(checked((int)ReadVarint())); break;
                default: throw new InvalidDataException($"Unsupported protobuf wire type {wireType} at byte {Position}.");
            }

            return true;
        }

        private ReadOnlySpan<byte> Take(int length)
        {
            if (length < 0 || length > data.Length - Position)
            {
                throw new InvalidDataException($"A protobuf field of {length} bytes at byte {Position} runs past the end.");
            }

            var slice = data.Slice(Position, length);
            Position += length;
            return slice;
        }

        private ulong ReadVarint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                var b = Take(1)[0];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }

            throw new InvalidDataException($"A protobuf varint at byte {Position} is longer than 10 bytes.");
        }
    }
}
