using System.Text.Json;

namespace KvTier.Workloads;

/// <summary>
/// Streams the requests of a Mooncake-format trace (one JSON object per line: timestamp, input_length,
/// output_length, hash_ids), validating each line as it goes: a bad line stops the read with a
/// <see cref="TraceFormatException"/> naming its line. Blank lines are skipped. Memory use is one line at a time.
/// </summary>
public static class MooncakeTraceReader
{
    /// <summary>Reads the trace file at <paramref name="path"/>.</summary>
    public static IEnumerable<TraceRequest> ReadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Trace '{path}' does not exist.", path);
        }

        return ReadLines(File.ReadLines(path), Path.GetFileName(path));
    }

    /// <summary>Reads requests from <paramref name="reader"/>; <paramref name="source"/> names it in errors.</summary>
    public static IEnumerable<TraceRequest> Read(TextReader reader, string source = "trace")
    {
        ArgumentNullException.ThrowIfNull(reader);
        return ReadLines(Lines(reader), source);
    }

    private static IEnumerable<string> Lines(TextReader reader)
    {
        while (reader.ReadLine() is { } line)
        {
            yield return line;
        }
    }

    private static IEnumerable<TraceRequest> ReadLines(IEnumerable<string> lines, string source)
    {
        var lineNumber = 0;
        long previousTimestamp = 0;
        foreach (var line in lines)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var request = Parse(line, source, lineNumber);
            if (request.TimestampMs < previousTimestamp)
            {
                throw new TraceFormatException(source, lineNumber, $"timestamp {request.TimestampMs} is earlier than the previous line's {previousTimestamp}.");
            }

            previousTimestamp = request.TimestampMs;
            yield return request;
        }
    }

    internal static TraceRequest Parse(string line, string source, int lineNumber)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line);
        }
        catch (JsonException exception)
        {
            throw new TraceFormatException(source, lineNumber, $"not valid JSON ({exception.Message}).", exception);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new TraceFormatException(source, lineNumber, $"expected a JSON object, found {root.ValueKind}.");
            }

            var timestamp = Integer(root, "timestamp", source, lineNumber, minimum: 0);
            var input = Integer(root, "input_length", source, lineNumber, minimum: 1);
            var output = Integer(root, "output_length", source, lineNumber, minimum: 0);
            if (!root.TryGetProperty("hash_ids", out var ids) || ids.ValueKind != JsonValueKind.Array)
            {
                throw new TraceFormatException(source, lineNumber, "'hash_ids' is missing or not an array.");
            }

            var hashIds = new long[ids.GetArrayLength()];
            var position = 0;
            foreach (var id in ids.EnumerateArray())
            {
                if (id.ValueKind != JsonValueKind.Number || !id.TryGetInt64(out var value) || value < 0)
                {
                    throw new TraceFormatException(source, lineNumber, $"hash_ids[{position}] is {id.GetRawText()}, not a non-negative integer.");
                }

                hashIds[position++] = value;
            }

            var expectedBlocks = (input + TraceRequest.TokensPerBlock - 1) / TraceRequest.TokensPerBlock;
            if (hashIds.Length != expectedBlocks)
            {
                throw new TraceFormatException(source, lineNumber,
                    $"{hashIds.Length} hash_ids for input_length {input}; expected ceil({input}/{TraceRequest.TokensPerBlock}) = {expectedBlocks}.");
            }

            return new TraceRequest(lineNumber, timestamp, (int)input, (int)output, hashIds);
        }
    }

    private static long Integer(JsonElement root, string name, string source, int lineNumber, long minimum)
    {
        if (!root.TryGetProperty(name, out var element) || element.ValueKind != JsonValueKind.Number)
        {
            throw new TraceFormatException(source, lineNumber, $"'{name}' is missing or not a number.");
        }

        if (!element.TryGetInt64(out var value) || value < minimum || value > int.MaxValue && name != "timestamp")
        {
            throw new TraceFormatException(source, lineNumber, $"'{name}' is {element.GetRawText()}; expected an integer >= {minimum}.");
        }

        return value;
    }
}
