namespace KvTier.Testing;

/// <summary>Where the repository and the shared data beside it are, as seen from a running test.</summary>
internal static class RepositoryPaths
{
    /// <summary>The repository root: the nearest folder above the test binary that holds KvTier.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The public request traces (Mooncake format). KVTIER_TRACES_DIR overrides
    /// <c>../shared/data/traces</c> beside the repository; null when neither exists.</summary>
    public static string? TracesDirectory
    {
        get
        {
            var overridden = Environment.GetEnvironmentVariable("KVTIER_TRACES_DIR");
            var candidate = !string.IsNullOrEmpty(overridden)
                ? overridden
                : Path.GetFullPath(Path.Combine(Root, "..", "shared", "data", "traces"));
            return System.IO.Directory.Exists(candidate) ? candidate : null;
        }
    }

    /// <summary>The path of one trace file, or a skip with a clear reason where the traces are absent.</summary>
    public static string RequireTrace(string fileName)
    {
        var directory = TracesDirectory;
        var path = directory is null ? null : Path.Combine(directory, fileName);
        Assert.SkipWhen(path is null || !File.Exists(path),
            $"Trace '{fileName}' not found: the public traces live in ../shared/data/traces beside the repository " +
            "(or set KVTIER_TRACES_DIR); they are never copied into the repository.");
        return path!;
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "KvTier.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No KvTier.sln above {AppContext.BaseDirectory}.");
    }
}
