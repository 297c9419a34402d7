using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KvTier.Codecs;

/// <summary>
/// Order-0 canonical Huffman coding of one byte plane, written here because the sign-and-exponent plane of bf16 KV
/// data has about 3 bits of entropy per byte, which LZ4 (a match finder) cannot exploit. Layout: 256 code lengths as
/// nibbles (128 bytes, 0 = symbol absent, at most <see cref="MaxCodeLength"/>), then the byte lengths
/// of the first three of four streams, then the streams: each codes a quarter of the plane, least-significant bit first.
/// Decoding is one table lookup per symbol, five symbols per 64-bit refill, four streams interleaved.
/// </summary>
internal static class HuffmanPlane
{
    public const int MaxCodeLength = 11;
    public const int TableBytes = 128;
    public const int Streams = 4;

    /// <summary>Code table, then the byte lengths of the first three streams (the fourth takes the rest).</summary>
    public const int HeaderBytes = TableBytes + (4 * (Streams - 1));

    private const int TableSize = 1 << MaxCodeLength;
    // A refill leaves at least 57 valid bits: five codes of at most 11 bits. The fast loop is unrolled for five.
    private const int SymbolsPerRefill = 5;

    // Reused so that encoding allocates nothing per call.
    [ThreadStatic]
    private static PriorityQueue<int, (long Weight, int Order)>? reusableQueue;

    /// <summary>Huffman-codes <paramref name="source"/> into <paramref name="destination"/> when that saves at least
    /// 1/32 of the source (less is not worth a decode that is slower than a copy); returns the bytes written, or -1.</summary>
    public static int Encode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        Span<int> counts = stackalloc int[256];
        foreach (var b in source)
        {
            counts[b]++;
        }

        // Huffman cannot beat the order-0 entropy: skip the tree when even that would not save enough.
        if (source.IsEmpty || HeaderBytes + (EntropyBits(counts, source.Length) / 8) > source.Length - (source.Length / 32))
        {
            return -1;
        }

        Span<byte> lengths = stackalloc byte[256];
        BuildLengths(counts, lengths);
        long bits = 0;
        for (var s = 0; s < 256; s++)
        {
            bits += (long)counts[s] * lengths[s];
        }

        var bound = HeaderBytes + (int)(bits / 8) + Streams;
        if (source.IsEmpty || bound > source.Length - (source.Length / 32) || bound > destination.Length)
        {
            return -1;
        }

        for (var s = 0; s < 256; s += 2)
        {
            destination[s / 2] = (byte)(lengths[s] | (lengths[s + 1] << 4));
        }

        Span<ushort> codes = stackalloc ushort[256];
        AssignReversedCodes(lengths, codes);
        var position = HeaderBytes;
        var segment = source.Length / Streams;
        for (var k = 0; k < Streams; k++)
        {
            var input = k < Streams - 1 ? source.Slice(k * segment, segment) : source[(k * segment)..];
            var written = EncodeStream(input, lengths, codes, destination[position..]);
            if (k < Streams - 1)
            {
                BinaryPrimitives.WriteInt32LittleEndian(destination[(TableBytes + (4 * k))..], written);
            }

            position += written;
        }

        return position;
    }

    private static double EntropyBits(ReadOnlySpan<int> counts, int total)
    {
        double bits = 0;
        foreach (var count in counts)
        {
            if (count > 0)
            {
                bits -= count * Math.Log2((double)count / total);
            }
        }

        return bits;
    }

    private static int EncodeStream(ReadOnlySpan<byte> source, ReadOnlySpan<byte> lengths, ReadOnlySpan<ushort> codes, Span<byte> output)
    {
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

        return position;
    }

    /// <summary>Decodes exactly <c>destination.Length</c> symbols from <paramref name="encoded"/>.</summary>
    /// <exception cref="ChunkFormatException">Bad code lengths or stream lengths, an invalid code, or a stream that is
    /// too short.</exception>
    [SkipLocalsInit]
    public static void Decode(ReadOnlySpan<byte> encoded, Span<byte> destination)
    {
        if (encoded.Length < HeaderBytes)
        {
            throw new ChunkFormatException($"A Huffman plane of {encoded.Length} bytes is shorter than its {HeaderBytes}-byte header.");
        }

        Span<ushort> table = stackalloc ushort[TableSize];
        BuildDecodeTable(encoded[..TableBytes], table);

        // Four independent streams over four quarters of the plane: their lookups overlap in the CPU, which a single
        // stream's chain (lookup, shift, lookup) cannot.
        Span<int> streamStart = stackalloc int[Streams + 1];
        streamStart[0] = HeaderBytes;
        for (var k = 0; k < Streams - 1; k++)
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(encoded[(TableBytes + (4 * k))..]);
            if (length < 0 || length > encoded.Length - streamStart[k])
            {
                throw new ChunkFormatException(
                    $"Huffman stream {k} claims {length} bytes but only {encoded.Length - streamStart[k]} remain.");
            }

            streamStart[k + 1] = streamStart[k] + length;
        }

        streamStart[Streams] = encoded.Length;
        var segment = destination.Length / Streams;
        ref var tableRef = ref MemoryMarshal.GetReference(table);
        ref var output = ref MemoryMarshal.GetReference(destination);
        ref var input = ref MemoryMarshal.GetReference(encoded);

        // Absolute bit positions in the encoded span; the loop condition keeps every 8-byte read inside its stream.
        long p0 = streamStart[0] * 8L, p1 = streamStart[1] * 8L, p2 = streamStart[2] * 8L, p3 = streamStart[3] * 8L;
        int end0 = streamStart[1] - 8, end1 = streamStart[2] - 8, end2 = streamStart[3] - 8, end3 = streamStart[4] - 8;
        var i = 0;
        var invalid = 0;
        while (i + SymbolsPerRefill <= segment &&
               (p0 >> 3) <= end0 && (p1 >> 3) <= end1 && (p2 >> 3) <= end2 && (p3 >> 3) <= end3)
        {
            var b0 = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref input, (nint)(p0 >> 3))) >> (int)(p0 & 7);
            var b1 = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref input, (nint)(p1 >> 3))) >> (int)(p1 & 7);
            var b2 = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref input, (nint)(p2 >> 3))) >> (int)(p2 & 7);
            var b3 = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref input, (nint)(p3 >> 3))) >> (int)(p3 & 7);
            ref var out0 = ref Unsafe.Add(ref output, i);
            // Unrolled by hand (the JIT does not unroll): five symbols per stream per refill, four streams interleaved.
            {
                var e0 = Unsafe.Add(ref tableRef, (int)(b0 & (TableSize - 1)));
                var e1 = Unsafe.Add(ref tableRef, (int)(b1 & (TableSize - 1)));
                var e2 = Unsafe.Add(ref tableRef, (int)(b2 & (TableSize - 1)));
                var e3 = Unsafe.Add(ref tableRef, (int)(b3 & (TableSize - 1)));
                Unsafe.Add(ref out0, 0) = (byte)e0;
                Unsafe.Add(ref out0, 0 + segment) = (byte)e1;
                Unsafe.Add(ref out0, 0 + (2 * segment)) = (byte)e2;
                Unsafe.Add(ref out0, 0 + (3 * segment)) = (byte)e3;
                invalid |= (e0 - 256) | (e1 - 256) | (e2 - 256) | (e3 - 256);
                b0 >>= e0 >> 8;
                b1 >>= e1 >> 8;
                b2 >>= e2 >> 8;
                b3 >>= e3 >> 8;
                p0 += e0 >> 8;
                p1 += e1 >> 8;
                p2 += e2 >> 8;
                p3 += e3 >> 8;
            }

            {
                var e0 = Unsafe.Add(ref tableRef, (int)(b0 & (TableSize - 1)));
                var e1 = Unsafe.Add(ref tableRef, (int)(b1 & (TableSize - 1)));
                var e2 = Unsafe.Add(ref tableRef, (int)(b2 & (TableSize - 1)));
                var e3 = Unsafe.Add(ref tableRef, (int)(b3 & (TableSize - 1)));
                Unsafe.Add(ref out0, 1) = (byte)e0;
                Unsafe.Add(ref out0, 1 + segment) = (byte)e1;
                Unsafe.Add(ref out0, 1 + (2 * segment)) = (byte)e2;
                Unsafe.Add(ref out0, 1 + (3 * segment)) = (byte)e3;
                invalid |= (e0 - 256) | (e1 - 256) | (e2 - 256) | (e3 - 256);
                b0 >>= e0 >> 8;
                b1 >>= e1 >> 8;
                b2 >>= e2 >> 8;
                b3 >>= e3 >> 8;
                p0 += e0 >> 8;
                p1 += e1 >> 8;
                p2 += e2 >> 8;
                p3 += e3 >> 8;
            }

            {
                var e0 = Unsafe.Add(ref tableRef, (int)(b0 & (TableSize - 1)));
                var e1 = Unsafe.Add(ref tableRef, (int)(b1 & (TableSize - 1)));
                var e2 = Unsafe.Add(ref tableRef, (int)(b2 & (TableSize - 1)));
                var e3 = Unsafe.Add(ref tableRef, (int)(b3 & (TableSize - 1)));
                Unsafe.Add(ref out0, 2) = (byte)e0;
                Unsafe.Add(ref out0, 2 + segment) = (byte)e1;
                Unsafe.Add(ref out0, 2 + (2 * segment)) = (byte)e2;
                Unsafe.Add(ref out0, 2 + (3 * segment)) = (byte)e3;
                invalid |= (e0 - 256) | (e1 - 256) | (e2 - 256) | (e3 - 256);
                b0 >>= e0 >> 8;
                b1 >>= e1 >> 8;
                b2 >>= e2 >> 8;
                b3 >>= e3 >> 8;
                p0 += e0 >> 8;
                p1 += e1 >> 8;
                p2 += e2 >> 8;
                p3 += e3 >> 8;
            }

            {
                var e0 = Unsafe.Add(ref tableRef, (int)(b0 & (TableSize - 1)));
                var e1 = Unsafe.Add(ref tableRef, (int)(b1 & (TableSize - 1)));
                var e2 = Unsafe.Add(ref tableRef, (int)(b2 & (TableSize - 1)));
                var e3 = Unsafe.Add(ref tableRef, (int)(b3 & (TableSize - 1)));
                Unsafe.Add(ref out0, 3) = (byte)e0;
                Unsafe.Add(ref out0, 3 + segment) = (byte)e1;
                Unsafe.Add(ref out0, 3 + (2 * segment)) = (byte)e2;
                Unsafe.Add(ref out0, 3 + (3 * segment)) = (byte)e3;
                invalid |= (e0 - 256) | (e1 - 256) | (e2 - 256) | (e3 - 256);
                b0 >>= e0 >> 8;
                b1 >>= e1 >> 8;
                b2 >>= e2 >> 8;
                b3 >>= e3 >> 8;
                p0 += e0 >> 8;
                p1 += e1 >> 8;
                p2 += e2 >> 8;
                p3 += e3 >> 8;
            }

            {
                var e0 = Unsafe.Add(ref tableRef, (int)(b0 & (TableSize - 1)));
                var e1 = Unsafe.Add(ref tableRef, (int)(b1 & (TableSize - 1)));
                var e2 = Unsafe.Add(ref tableRef, (int)(b2 & (TableSize - 1)));
                var e3 = Unsafe.Add(ref tableRef, (int)(b3 & (TableSize - 1)));
                Unsafe.Add(ref out0, 4) = (byte)e0;
                Unsafe.Add(ref out0, 4 + segment) = (byte)e1;
                Unsafe.Add(ref out0, 4 + (2 * segment)) = (byte)e2;
                Unsafe.Add(ref out0, 4 + (3 * segment)) = (byte)e3;
                invalid |= (e0 - 256) | (e1 - 256) | (e2 - 256) | (e3 - 256);
                b0 >>= e0 >> 8;
                b1 >>= e1 >> 8;
                b2 >>= e2 >> 8;
                b3 >>= e3 >> 8;
                p0 += e0 >> 8;
                p1 += e1 >> 8;
                p2 += e2 >> 8;
                p3 += e3 >> 8;
            }

            i += SymbolsPerRefill;
        }

        if (invalid < 0)
        {
            throw new ChunkFormatException("A Huffman plane holds an invalid code.");
        }

        p0 -= streamStart[0] * 8L;
        p1 -= streamStart[1] * 8L;
        p2 -= streamStart[2] * 8L;
        p3 -= streamStart[3] * 8L;
        var s0 = encoded[streamStart[0]..streamStart[1]];
        var s1 = encoded[streamStart[1]..streamStart[2]];
        var s2 = encoded[streamStart[2]..streamStart[3]];
        var s3 = encoded[streamStart[3]..streamStart[4]];
        DecodeTail(table, s0, p0, destination[..segment], i);
        DecodeTail(table, s1, p1, destination.Slice(segment, segment), i);
        DecodeTail(table, s2, p2, destination.Slice(2 * segment, segment), i);
        DecodeTail(table, s3, p3, destination[(3 * segment)..], i);
    }

    /// <summary>Finishes one stream from symbol <paramref name="start"/>: byte-wise reads, zeros past the end, then a
    /// check that the codes used exactly the stream's bytes.</summary>
    private static void DecodeTail(ReadOnlySpan<ushort> table, ReadOnlySpan<byte> stream, long bitPosition,
        Span<byte> destination, int start)
    {
        for (var i = start; i < destination.Length; i++)
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

        if ((bitPosition + 7) / 8 != stream.Length)
        {
            throw new ChunkFormatException(
                $"A Huffman stream's codes take {bitPosition} bits but the stream holds {stream.Length} bytes.");
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
