using System.Runtime.InteropServices;

namespace KvTier.Rdma;

/// <summary>One native verbs object. It holds a reference on each parent (DangerousAddRef) from creation until
/// its own release, so a context disposed before its regions or queues is closed only after the last of them:
/// the native objects are always destroyed children first.</summary>
public abstract class RdmaHandle : SafeHandle
{
    private SafeHandle? firstParent;
    private SafeHandle? secondParent;

    private protected RdmaHandle()
        : base(0, ownsHandle: true)
    {
    }

    /// <inheritdoc />
    public override bool IsInvalid => handle == 0;

    /// <summary>Adds references on the parents before the native object that depends on them is created.</summary>
    private protected static void AddRefParents(SafeHandle first, SafeHandle? second, out bool firstAdded, out bool secondAdded)
    {
        firstAdded = secondAdded = false;
        first.DangerousAddRef(ref firstAdded);
        try
        {
            second?.DangerousAddRef(ref secondAdded);
        }
        catch
        {
            first.DangerousRelease();
            throw;
        }
    }

    /// <summary>Undoes <see cref="AddRefParents"/> when the native create failed.</summary>
    private protected static void ReleaseParents(SafeHandle first, SafeHandle? second, bool firstAdded, bool secondAdded)
    {
        if (secondAdded)
        {
            second!.DangerousRelease();
        }

        if (firstAdded)
        {
            first.DangerousRelease();
        }
    }

    /// <summary>Takes ownership of a created native object whose parents were referenced by <see cref="AddRefParents"/>.</summary>
    private protected void Adopt(nint native, SafeHandle? first, SafeHandle? second)
    {
        firstParent = first;
        secondParent = second;
        SetHandle(native);
    }

    /// <summary>Keeps the native object alive for one call: throws <see cref="ObjectDisposedException"/> after
    /// Dispose instead of handing a freed pointer to the shim.</summary>
    private protected HandleLease Lease() => new(this);

    /// <summary>Destroys the native object; 0 or -errno.</summary>
    private protected abstract int Destroy(nint native);

    /// <inheritdoc />
    protected sealed override bool ReleaseHandle()
    {
        var result = Destroy(handle);
        secondParent?.DangerousRelease();
        firstParent?.DangerousRelease();
        return result == 0;
    }
}

/// <summary>A reference on a handle for the duration of one native call (see <see cref="RdmaHandle"/>).</summary>
internal readonly ref struct HandleLease
{
    private readonly SafeHandle owner;

    public HandleLease(SafeHandle owner)
    {
        this.owner = owner;
        var added = false;
        owner.DangerousAddRef(ref added); // throws ObjectDisposedException once disposed
        Handle = owner.DangerousGetHandle();
    }

    /// <summary>The native pointer, valid until <see cref="Dispose"/>.</summary>
    public nint Handle { get; }

    public void Dispose() => owner.DangerousRelease();
}
