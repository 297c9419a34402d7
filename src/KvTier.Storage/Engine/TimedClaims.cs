namespace KvTier.Storage;

/// <summary>
/// Leases or reservations: each a claim on an index slot with a deadline, named by a 64-bit id (slot in the table +
/// a generation, so a stale id never matches a reused slot). Struct array, free list, one short lock.
/// </summary>
internal sealed class TimedClaims
{
    private readonly Lock gate = new();
    private Claim[] claims = new Claim[256];
    private int[] free = new int[256];
    private int freeCount;
    private int highWater;
    private long earliestDeadline = long.MaxValue;

    public int Count { get; private set; }

    public ulong Add(int slot, in BlockId id, long deadline)
    {
        lock (gate)
        {
            int index;
            if (freeCount > 0)
            {
                index = free[--freeCount];
            }
            else
            {
                if (highWater == claims.Length)
                {
                    Array.Resize(ref claims, claims.Length * 2);
                    Array.Resize(ref free, claims.Length);
                }

                index = highWater++;
            }

            ref var claim = ref claims[index];
            claim.Generation++;
            claim.Slot = slot;
            claim.Id = id;
            claim.Deadline = deadline;
            claim.Active = true;
            Count++;
            earliestDeadline = Math.Min(earliestDeadline, deadline);
            return ((ulong)claim.Generation << 32) | (uint)(index + 1);
        }
    }

    /// <summary>Ends the claim <paramref name="claimId"/>; false when it is not live.</summary>
    public bool TryTake(ulong claimId, out int slot, out BlockId id)
    {
        var index = (int)(uint)claimId - 1;
        lock (gate)
        {
            if (index < 0 || index >= highWater || !claims[index].Active || claims[index].Generation != (uint)(claimId >> 32))
            {
                slot = -1;
                id = default;
                return false;
            }

            ref var claim = ref claims[index];
            slot = claim.Slot;
            id = claim.Id;
            Release(index);
            return true;
        }
    }

    /// <summary>Whether <paramref name="claimId"/> is live and names <paramref name="slot"/>.</summary>
    public bool IsLive(ulong claimId, int slot)
    {
        var index = (int)(uint)claimId - 1;
        lock (gate)
        {
            return index >= 0 && index < highWater && claims[index].Active && claims[index].Generation == (uint)(claimId >> 32) && claims[index].Slot == slot;
        }
    }

    public int SlotOf(ulong claimId)
    {
        var index = (int)(uint)claimId - 1;
        lock (gate)
        {
            return index >= 0 && index < highWater && claims[index].Active && claims[index].Generation == (uint)(claimId >> 32) ? claims[index].Slot : -1;
        }
    }

    /// <summary>Ends every claim whose deadline is at or before <paramref name="now"/> and adds it to <paramref name="expired"/>.</summary>
    public void TakeExpired(long now, List<(int Slot, BlockId Id)> expired)
    {
        lock (gate)
        {
            if (now < earliestDeadline)
            {
                return;
            }

            var earliest = long.MaxValue;
            for (var index = 0; index < highWater; index++)
            {
                ref var claim = ref claims[index];
                if (!claim.Active)
                {
                    continue;
                }

                if (claim.Deadline <= now)
                {
                    expired.Add((claim.Slot, claim.Id));
                    Release(index);
                }
                else
                {
                    earliest = Math.Min(earliest, claim.Deadline);
                }
            }

            earliestDeadline = earliest;
        }
    }

    private void Release(int index)
    {
        claims[index].Active = false;
        free[freeCount++] = index;
        Count--;
    }

    private struct Claim
    {
        public int Slot;
        public uint Generation;
        public long Deadline;
        public BlockId Id;
        public bool Active;
    }
}
