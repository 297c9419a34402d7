namespace KvTier.Node.Hosting;

/// <summary>Where a node is in its life; /readyz answers 200 only in <see cref="Serving"/>.</summary>
public enum NodeLifecycle
{
    /// <summary>Opening storage, re-publishing recovered blocks, binding listeners.</summary>
    Starting,

    /// <summary>Registered in the directory and accepting reads and writes.</summary>
    Serving,

    /// <summary>Refusing writes, finishing in-flight reads, leaving the directory.</summary>
    Draining,

    /// <summary>Listeners closed; the process may exit.</summary>
    Stopped,
}
