using System.Buffers;

namespace KvTier.Client;

/// <summary>Builds a <see cref="ReadOnlySequence{T}"/> over separate buffers, so a request body can be sent as
/// segments without being copied into one buffer.</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Of(ReadOnlyMemory<byte> head, ReadOnlyMemory<byte>[] rest) => Of(head, rest.AsSpan());

    public static ReadOnlySequence<byte> Of(ReadOnlyMemory<byte> head, ReadOnlySpan<ReadOnlyMemory<byte>> rest)
    {
        var first = new Segments(head, 0);
        var last = first;
        foreach (var part in rest)
        {
            if (part.IsEmpty)
            {
                continue;
            }

            var segment = new Segments(part, last.RunningIndex + last.Memory.Length);
            last.Next = segment;
            last = segment;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
