using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KvTier.Codecs;

/// <summary>
/// Order-0 canonical Huffman coding of one byte plane, written here because the sign-and-exponent plane of bf16 KV
/// data has about 3 bits of entropy per byte, which LZ4 (a match finder) cannot exploit. Layout: 256 code lengths as
/// nibbles (128 bytes, 0 = symbol absent, at most <see cref="MaxCodeLength"/>), then the codes packed
/// least-significant bit first. Decoding is one table lookup per symbol, five symbols per 64-bit refill.
/// </summary>
internal static class HuffmanPlane
{
    public const int MaxCodeLength = 11;
    public const int TableBytes = 128;

    private const int TableSize = 1 << MaxCodeLength;
    private const int SymbolsPerRefill = 57 / MaxCodeLength;

    // Reused so that encoding allocates nothing per call.
    [ThreadStatic]
    private static PriorityQueue<int, (long Weight, int Order)>? reusableQueue;

    /// <summary>Huffman-codes <paramref name="source"/> into <paramref name="destination"/> when that is shorter
    /// than the source; returns the bytes written, or -1 when it would not pay.</summary>
    public static int Encode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        Span<int> counts = stackalloc int[256];
        foreach (var b in source)
        {
            counts[b]++;
        }

        Span<byte> lengths = stackalloc byte[256];
        BuildLengths(counts, lengths);
        long bits = 0;
        for (var s = 0; s < 256; s++)
        {
            bits += (long)counts[s] * lengths[s];
        }

        var size = TableBytes + (int)((bits + 7) / 8);
        if (source.IsEmpty || size >= source.Length || destination.Length < size)
        {
            return -1;
        }

        for (var s = 0; s < 256; s += 2)
        {
            destination[s / 2] = (byte)(lengths[s] | (lengths[s + 1] << 4));
        }

        Span<ushort> codes = stackalloc ushort[256];
        AssignReversedCodes(lengths, codes);
        var output = destination[TableBytes..size];
        ulong buffer = 0;
        int buffered = 0, position = 0;
        foreach (var b in source)
        {
            buffer |= (ulong)codes[b] << buffered;
            buffered += lengths[b];
            if (buffered >= 32)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(output[position..], (uint)buffer);
                position += 4;
                buffer >>= 32;
                buffered -= 32;
            }
        }

        for (; buffered > 0; buffered -= 8)
        {
            output[position++] = (byte)buffer;
            buffer >>= 8;
        }

        return size;
    }

    /// <summary>Decodes exactly <c>destination.Length</c> symbols from <paramref name="encoded"/>.</summary>
    /// <exception cref="ChunkFormatException">Bad code lengths, an invalid code, or a stream that is too short.</exception>
    [SkipLocalsInit]
    public static void Decode(ReadOnlySpan<byte> encoded, Span<byte> destination)
    {
        if (encoded.Length < TableBytes)
        {
            throw new ChunkFormatException($"A Huffman plane of {encoded.Length} bytes is shorter than its {TableBytes}-byte code table.");
        }

        Span<ushort> table = stackalloc ushort[TableSize];
        BuildDecodeTable(encoded[..TableBytes], table);
        var stream = encoded[TableBytes..];
        ref var tableRef = ref MemoryMarshal.GetReference(table);
        ref var output = ref MemoryMarshal.GetReference(destination);
        long bitPosition = 0;
        var i = 0;

        // Fast path: whole 8-byte reads while they stay inside the stream.
        var fastEnd = destination.Length - SymbolsPerRefill;
        while (i <= fastEnd && (bitPosition >> 3) + 8 <= stream.Length)
        {
            var bits = BinaryPrimitives.ReadUInt64LittleEndian(stream[(int)(bitPosition >> 3)..]) >> (int)(bitPosition & 7);
            for (var k = 0; k < SymbolsPerRefill; k++)
            {
                var entry = Unsafe.Add(ref tableRef, (int)(bits & (TableSize - 1)));
                var length = entry >> 8;
                if (length == 0)
                {
                    throw InvalidCode(i);
                }

                Unsafe.Add(ref output, i++) = (byte)entry;
                bits >>= length;
                bitPosition += length;
            }
        }

        // Tail: byte-wise reads, zeros past the end, then a check that no code ran past it.
        for (; i < destination.Length; i++)
        {
            ulong bits = 0;
            var first = (int)(bitPosition >> 3);
            for (var b = 0; b < 3 && first + b < stream.Length; b++)
            {
                bits |= (ulong)stream[first + b] << (8 * b);
            }

            var entry = table[(int)((bits >> (int)(bitPosition & 7)) & (TableSize - 1))];
            var length = entry >> 8;
            if (length == 0)
            {
                throw InvalidCode(i);
            }

            destination[i] = (byte)entry;
            bitPosition += length;
        }

        if (bitPosition > stream.Length * 8L)
        {
            throw new ChunkFormatException(
                $"A Huffman plane's codes need {bitPosition} bits but its stream holds only {stream.Length * 8L}.");
        }
    }

    private static ChunkFormatException InvalidCode(int index) =>
        new($"A Huffman plane holds an invalid code at symbol {index}.");

    private static void BuildDecodeTable(ReadOnlySpan<byte> packedLengths, Span<ushort> table)
    {
        Span<byte> lengths = stackalloc byte[256];
        long kraft = 0;
        for (var s = 0; s < 256; s++)
        {
            var length = (byte)((packedLengths[s / 2] >> (4 * (s & 1))) & 0xF);
            if (length > MaxCodeLength)
            {
                throw new ChunkFormatException($"A Huffman code length of {length} bits exceeds the {MaxCodeLength}-bit limit.");
            }

            lengths[s] = length;
            kraft += length == 0 ? 0 : 1L << (MaxCodeLength - length);
        }

        if (kraft > TableSize)
        {
            throw new ChunkFormatException("The Huffman code lengths are oversubscribed (not a prefix code).");
        }

        table.Clear(); // entries no code reaches stay length 0: invalid
        Span<ushort> codes = stackalloc ushort[256];
        AssignReversedCodes(lengths, codes);
        for (var s = 0; s < 256; s++)
        {
            var length = lengths[s];
            if (length == 0)
            {
                continue;
            }

            var entry = (ushort)((length << 8) | s);
            for (int index = codes[s]; index < TableSize; index += 1 << length)
            {
                table[index] = entry;
            }
        }
    }

    /// <summary>Canonical codes (shorter first, then by symbol), bit-reversed for least-significant-first output.</summary>
    private static void AssignReversedCodes(ReadOnlySpan<byte> lengths, Span<ushort> codes)
    {
        Span<int> perLength = stackalloc int[MaxCodeLength + 2];
        foreach (var length in lengths)
        {
            perLength[length]++;
        }

        perLength[0] = 0;
        Span<int> next = stackalloc int[MaxCodeLength + 2];
        var code = 0;
        for (var length = 1; length <= MaxCodeLength; length++)
        {
            code = (code + perLength[length - 1]) << 1;
            next[length] = code;
        }

        for (var s = 0; s < 256; s++)
        {
            var length = lengths[s];
            if (length != 0)
            {
                codes[s] = Reverse(next[length]++, length);
            }
        }
    }

    private static ushort Reverse(int code, int length)
    {
        var reversed = 0;
        for (var b = 0; b < length; b++)
        {
            reversed = (reversed << 1) | ((code >> b) & 1);
        }

        return (ushort)reversed;
    }

    /// <summary>Huffman code lengths limited to <see cref="MaxCodeLength"/> bits: when the tree is too deep, the
    /// counts are flattened (halved, kept non-zero) and the tree rebuilt, which costs a fraction of a percent.</summary>
    private static void BuildLengths(ReadOnlySpan<int> counts, Span<byte> lengths)
    {
        Span<long> weights = stackalloc long[256];
        for (var s = 0; s < 256; s++)
        {
            weights[s] = counts[s];
        }

        while (true)
        {
            lengths.Clear();
            var used = 0;
            for (var s = 0; s < 256; s++)
            {
                used += weights[s] > 0 ? 1 : 0;
            }

            if (used <= 1)
            {
                // One symbol (or none) still needs a 1-bit code so the stream has a length.
                for (var s = 0; s < 256; s++)
                {
                    lengths[s] = weights[s] > 0 ? (byte)1 : (byte)0;
                }

                return;
            }

            if (TreeDepths(weights, lengths) <= MaxCodeLength)
            {
                return;
            }

            for (var s = 0; s < 256; s++)
            {
                weights[s] = weights[s] > 0 ? (weights[s] >> 1) | 1 : 0;
            }
        }
    }

    private static int TreeDepths(ReadOnlySpan<long> weights, Span<byte> lengths)
    {
        // Nodes 0..255 are leaves, 256.. internal; parent links give each leaf's depth.
        Span<int> parent = stackalloc int[512];
        var queue = reusableQueue ??= new PriorityQueue<int, (long Weight, int Order)>(256);
        queue.Clear();
        for (var s = 0; s < 256; s++)
        {
            if (weights[s] > 0)
            {
                queue.Enqueue(s, (weights[s], s));
            }
        }

        var nextNode = 256;
        while (queue.Count > 1)
        {
            queue.TryDequeue(out var a, out var wa);
            queue.TryDequeue(out var b, out var wb);
            parent[a] = parent[b] = nextNode;
            queue.Enqueue(nextNode, (wa.Weight + wb.Weight, nextNode));
            nextNode++;
        }

        var root = nextNode - 1;
        var maxDepth = 0;
        for (var s = 0; s < 256; s++)
        {
            if (weights[s] == 0)
            {
                continue;
            }

            var depth = 0;
            for (var node = s; node != root; node = parent[node])
            {
                depth++;
            }

            lengths[s] = (byte)Math.Min(depth, 15);
            maxDepth = Math.Max(maxDepth, depth);
        }

        return maxDepth;
    }
}
