using KvTier.Core.Layout;

namespace KvTier.Codecs.Tests;

/// <summary>Random and mutated inputs: decoding either succeeds or throws <see cref="ChunkFormatException"/>, and
/// never touches memory outside the spans it was given (guard bytes around both spans stay intact).</summary>
public sealed class FuzzTests
{
    private const int Guard = 64;
    private const byte GuardValue = 0xA5;

    [Fact]
    public void Random_bytes_never_decode_outside_the_spans()
    {
        var random = new Random(1234);
        for (var trial = 0; trial < 3000; trial++)
        {
            var input = CodecTestData.RandomBytes(random.Next(0, 400), trial);
            if (input.Length >= 4 && trial % 2 == 0)
            {
                input[0] = (byte)'K'; // half the trials get past the magic, to reach the length checks
                input[1] = (byte)'V';
                input[2] = (byte)'C';
                input[3] = ChunkHeader.FormatVersion;
            }

            DecodeGuarded(input, random.Next(0, 2000));
        }
    }

    public static TheoryData<string> AllCodecs() => [.. ChunkCodecs.All.Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(AllCodecs))]
    public void Mutated_chunks_with_recomputed_checksums_never_decode_outside_the_spans(string codecName)
    {
        // Recomputing the checksum lets mutations reach the payload decoders (LZ4, Huffman, plane tables, scales).
        var codec = ChunkCodecs.Get(codecName);
        var shape = new ChunkShape(KvDataType.BFloat16, 8, 64);
        var random = new Random(codecName.Length * 7919);
        var source = CodecTestData.OutlierChannelChunk(KvDataType.BFloat16, 8, 64, seed: 5);
        var original = CodecTestData.Encode(codec, source, shape);
        for (var trial = 0; trial < 1500; trial++)
        {
            var mutated = original.ToArray();
            var header = ChunkHeader.Read(mutated);
            switch (trial % 4)
            {
                case 0: // flip payload bytes
                    for (var k = 0; k < 1 + random.Next(4) && mutated.Length > ChunkHeader.Size; k++)
                    {
                        mutated[ChunkHeader.Size + random.Next(mutated.Length - ChunkHeader.Size)] ^= (byte)(1 + random.Next(255));
                    }

                    break;
                case 1: // lie about the raw length
                    header = header with { RawLength = Math.Max(0, header.RawLength + random.Next(-40, 40)) };
                    break;
                case 2: // lie about the shape
                    header = header with { Tokens = random.Next(0, 20), ChannelsPerToken = random.Next(0, 130) };
                    break;
                default: // cut the payload and say so
                    var cut = random.Next(0, header.PayloadLength + 1);
                    mutated = mutated.AsSpan(0, ChunkHeader.Size + cut).ToArray();
                    header = header with { PayloadLength = cut };
                    break;
            }

            header.WriteWithChecksum(mutated);
            DecodeGuarded(mutated, random.Next(0, 2 * source.Length));
        }
    }

    private static void DecodeGuarded(byte[] input, int destinationLength)
    {
        var inputBuffer = new byte[input.Length + (2 * Guard)];
        inputBuffer.AsSpan().Fill(GuardValue);
        input.CopyTo(inputBuffer, Guard);
        var outputBuffer = new byte[destinationLength + (2 * Guard)];
        outputBuffer.AsSpan().Fill(GuardValue);
        try
        {
            var written = ChunkCodecs.Decode(inputBuffer.AsSpan(Guard, input.Length), outputBuffer.AsSpan(Guard, destinationLength));
            Assert.InRange(written, 0, destinationLength);
        }
        catch (ChunkFormatException)
        {
            // expected for nearly every input
        }

        Assert.True(inputBuffer.AsSpan(0, Guard).IndexOfAnyExcept(GuardValue) < 0, "bytes before the input changed");
        Assert.True(inputBuffer.AsSpan(Guard + input.Length).IndexOfAnyExcept(GuardValue) < 0, "bytes after the input changed");
        Assert.True(inputBuffer.AsSpan(Guard, input.Length).SequenceEqual(input), "the input changed");
        Assert.True(outputBuffer.AsSpan(0, Guard).IndexOfAnyExcept(GuardValue) < 0, "bytes before the destination changed");
        Assert.True(outputBuffer.AsSpan(Guard + destinationLength).IndexOfAnyExcept(GuardValue) < 0, "bytes after the destination changed");
    }
}
