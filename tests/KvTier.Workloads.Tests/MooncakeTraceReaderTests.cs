using KvTier.Testing;

namespace KvTier.Workloads.Tests;

public sealed class MooncakeTraceReaderTests
{
    [Fact]
    public void A_valid_line_becomes_a_request()
    {
        var requests = Read("""{"timestamp": 27, "input_length": 1025, "output_length": 9, "hash_ids": [4, 5, 6]}""");

        var request = Assert.Single(requests);
        Assert.Equal(27, request.TimestampMs);
        Assert.Equal(1025, request.InputLength);
        Assert.Equal(9, request.OutputLength);
        Assert.Equal([4L, 5L, 6L], request.HashIds);
        Assert.Equal(1, request.LineNumber);
    }

    [Fact]
    public void Blank_lines_are_skipped_and_line_numbers_stay_true()
    {
        var requests = Read("", """{"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": [0]}""", "  ");

        Assert.Equal(2, Assert.Single(requests).LineNumber);
    }

    [Theory]
    [InlineData("""{"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": [0]""", "not valid JSON")]
    [InlineData("""[1, 2]""", "expected a JSON object")]
    [InlineData("""{"input_length": 10, "output_length": 1, "hash_ids": [0]}""", "'timestamp' is missing")]
    [InlineData("""{"timestamp": 0, "input_length": 0, "output_length": 1, "hash_ids": []}""", "'input_length' is 0")]
    [InlineData("""{"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": "x"}""", "'hash_ids' is missing or not an array")]
    [InlineData("""{"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": [-3]}""", "hash_ids[0] is -3")]
    [InlineData("""{"timestamp": 0, "input_length": 1000, "output_length": 1, "hash_ids": [1]}""", "1 hash_ids for input_length 1000; expected ceil(1000/512) = 2")]
    public void A_bad_line_is_an_error_that_names_the_line_and_the_problem(string line, string problem)
    {
        var good = """{"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": [0]}""";

        var error = Assert.Throws<TraceFormatException>(() => Read(good, line));

        Assert.Equal(2, error.LineNumber);
        Assert.StartsWith("test.jsonl:2: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Timestamps_going_backwards_are_an_error()
    {
        var error = Assert.Throws<TraceFormatException>(() => Read(
            """{"timestamp": 5, "input_length": 10, "output_length": 1, "hash_ids": [0]}""",
            """{"timestamp": 4, "input_length": 10, "output_length": 1, "hash_ids": [0]}"""));

        Assert.Contains("earlier than the previous line's 5", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_a_clear_error()
    {
        var error = Assert.Throws<FileNotFoundException>(() => MooncakeTraceReader.ReadFile("/nonexistent/trace.jsonl"));

        Assert.Contains("/nonexistent/trace.jsonl", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("conversation_trace.jsonl", 12_031, 144_793_823L)]
    [InlineData("synthetic_trace.jsonl", 3_993, 61_194_628L)]
    public void The_public_traces_read_completely_with_the_totals_their_readme_states(string file, int requests, long inputTokens)
    {
        var path = RepositoryPaths.RequireTrace(file);

        var all = MooncakeTraceReader.ReadFile(path).ToList();

        Assert.Equal(requests, all.Count);
        Assert.Equal(inputTokens, all.Sum(request => (long)request.InputLength));
    }

    private static List<TraceRequest> Read(params string[] lines) =>
        [.. MooncakeTraceReader.Read(new StringReader(string.Join('\n', lines)), "test.jsonl")];
}
