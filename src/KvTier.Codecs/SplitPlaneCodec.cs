using System.Buffers;
using System.Buffers.Binary;
using KvTier.Core.Layout;

namespace KvTier.Codecs;

/// <summary>
/// "split-lz4" and "split-huffman": the chunk's elements are split into byte planes (for 16-bit floats: high bytes
/// with sign and exponent together, low mantissa bytes together), and each plane is compressed with the codec's plane
/// coder (LZ4 or Huffman) or stored raw where that does not pay. Payload: plane count (1), then per plane its mode
/// (1, see <see cref="PlaneCoding"/>) and stored length (4), then the planes, then the <c>rawLength % elementSize</c>
/// trailing bytes as they are, so any byte length round-trips exactly. Either codec decodes any plane mode.
/// </summary>
internal sealed class SplitPlaneCodec(CodecId id, string name, PlaneCoder coder) : ChunkCodec
{
    private const int MaxPlanes = 4;
    private const int DescriptorBytes = 5;

    public override CodecId Id => id;

    public override string Name => name;

    public override bool IsLossless => true;

    private protected override int MaxPayloadLength(int rawLength) => 1 + (MaxPlanes * DescriptorBytes) + rawLength;

    private protected override int EncodePayload(ReadOnlySpan<byte> chunk, ChunkShape shape, Span<byte> destination)
    {
        var elementSize = shape.DataType.ElementSize();
        var count = chunk.Length / elementSize;
        var tail = chunk.Length - (count * elementSize);
        var scratch = ArrayPool<byte>.Shared.Rent(count * elementSize);
        try
        {
            var planes = scratch.AsSpan(0, count * elementSize);
            BytePlanes.Split(chunk, elementSize, planes);
            destination[0] = (byte)elementSize;
            var offset = 1 + (elementSize * DescriptorBytes);
            for (var p = 0; p < elementSize; p++)
            {
                var descriptor = destination.Slice(1 + (p * DescriptorBytes), DescriptorBytes);
                var stored = PlaneCoding.Encode(planes.Slice(p * count, count), destination[offset..], coder, out descriptor[0]);
                BinaryPrimitives.WriteInt32LittleEndian(descriptor[1..], stored);
                offset += stored;
            }

            chunk[(count * elementSize)..].CopyTo(destination[offset..]);
            return offset + tail;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private protected override void DecodePayload(ReadOnlySpan<byte> payload, in ChunkHeader header, Span<byte> destination)
    {
        var elementSize = header.DataType.ElementSize();
        if (payload.IsEmpty || payload[0] != elementSize)
        {
            throw new ChunkFormatException(
                $"A split-plane chunk of {header.DataType.Name()} must have {elementSize} planes; it has {(payload.IsEmpty ? 0 : payload[0])}.");
        }

        var count = header.RawLength / elementSize;
        var tail = header.RawLength - (count * elementSize);
        var descriptorsEnd = 1 + (elementSize * DescriptorBytes);
        if (payload.Length < descriptorsEnd)
        {
            throw new ChunkFormatException($"A split-plane payload of {payload.Length} bytes is too short for its plane table.");
        }

        Span<int> starts = stackalloc int[MaxPlanes + 1];
        starts[0] = descriptorsEnd;
        for (var p = 0; p < elementSize; p++)
        {
            var stored = BinaryPrimitives.ReadInt32LittleEndian(payload[(2 + (p * DescriptorBytes))..]);
            if (stored < 0 || stored > payload.Length - starts[p])
            {
                throw new ChunkFormatException(
                    $"Plane {p} claims {stored} bytes but only {payload.Length - starts[p]} remain in the payload.");
            }

            starts[p + 1] = starts[p] + stored;
        }

        if (payload.Length - starts[elementSize] != tail)
        {
            throw new ChunkFormatException(
                $"A split-plane payload has {payload.Length - starts[elementSize]} trailing bytes where {tail} were expected.");
        }

        // Raw planes merge straight from the payload; only compressed planes go through scratch.
        var scratch = ArrayPool<byte>.Shared.Rent(count * elementSize);
        try
        {
            var planes = scratch.AsSpan(0, count * elementSize);
            if (elementSize == 2)
            {
                BytePlanes.Merge(
                    ResolvePlane(payload[1], payload[starts[0]..starts[1]], planes[..count]),
                    ResolvePlane(payload[1 + DescriptorBytes], payload[starts[1]..starts[2]], planes.Slice(count, count)),
                    destination);
            }
            else
            {
                for (var p = 0; p < elementSize; p++)
                {
                    PlaneCoding.Decode(payload[1 + (p * DescriptorBytes)], payload[starts[p]..starts[p + 1]], planes.Slice(p * count, count));
                }

                BytePlanes.MergeGeneric(planes, elementSize, count, destination);
            }

            payload[starts[elementSize]..].CopyTo(destination[(count * elementSize)..]);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private static ReadOnlySpan<byte> ResolvePlane(byte mode, ReadOnlySpan<byte> stored, Span<byte> scratch)
    {
        if (mode == PlaneCoding.Raw && stored.Length == scratch.Length)
        {
            return stored;
        }

        PlaneCoding.Decode(mode, stored, scratch);
        return scratch;
    }
}
