namespace KvTier.Transport;

/// <summary>Outcome of a request (frame level) or of one block in a batch (entry level).</summary>
public enum FrameStatus : ushort
{
    /// <summary>Done.</summary>
    Ok = 0,

    /// <summary>The block is not held by this node (any more).</summary>
    NotFound = 1,

    /// <summary>The block failed its checksum on the node and was dropped; never served.</summary>
    Corrupt = 2,

    /// <summary>The request is malformed or violates a limit; the message says which.</summary>
    BadRequest = 3,

    /// <summary>The caller may not use this namespace.</summary>
    Unauthorized = 4,

    /// <summary>The node has no room for the block now.</summary>
    NoSpace = 5,

    /// <summary>The node is draining and accepts no new writes.</summary>
    Draining = 6,

    /// <summary>The lease or reservation expired before it was used.</summary>
    Expired = 7,

    /// <summary>The node failed unexpectedly; the request may be retried if it is idempotent.</summary>
    InternalError = 8,

    /// <summary>The node does not serve the request's namespace (not registered there); the whole request is refused.</summary>
    UnknownNamespace = 9,

    /// <summary>Reserve only: the block is already stored on the node (puts are idempotent); nothing to write.</summary>
    AlreadyPresent = 10,

    /// <summary>Reserve only: another writer holds the block, or it is being deleted; skip it or try later.</summary>
    Busy = 11,
}
