using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using KvTier.Rdma.Native;

namespace KvTier.Rdma;

/// <summary>Finds and checks the native shim. Search order for "kvtier_rdma": the file named by
/// <c>KVTIER_RDMA_SHIM</c> (the tests point it at libkvtier_rdma_testing.so), libkvtier_rdma.so beside the
/// application (the project copies it there when native/build holds one), then native/build/ of the nearest
/// repository checkout above the application.</summary>
public static class RdmaLibrary
{
    /// <summary>Environment variable naming the shim file to load instead of the default search.</summary>
    public const string PathVariable = "KVTIER_RDMA_SHIM";

    /// <summary>The ABI version this binding was written against (KVT_ABI_VERSION).</summary>
    public const uint ExpectedAbiVersion = 1;

    private const string FileName = "libkvtier_rdma.so";

    /// <summary>The path the resolver loaded the shim from, or null before the first call or when it found none.</summary>
    public static string? LoadedFrom { get; private set; }

#pragma warning disable CA2255 // The resolver must be in place before any LibraryImport of this assembly runs.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void InstallResolver() =>
        NativeLibrary.SetDllImportResolver(typeof(RdmaLibrary).Assembly, Resolve);

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != NativeMethods.Library)
        {
            return 0;
        }

        var overridden = Environment.GetEnvironmentVariable(PathVariable);
        if (!string.IsNullOrEmpty(overridden) && !NativeLibrary.TryLoad(Path.GetFullPath(overridden), out _))
        {
            // An explicit choice is never silently replaced by another copy found by the default probing.
            throw new DllNotFoundException($"{PathVariable}={overridden} cannot be loaded (missing or not a shared library).");
        }

        foreach (var candidate in Candidates())
        {
            if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out var handle))
            {
                LoadedFrom = candidate;
                return handle;
            }
        }

        return 0; // the runtime's default probing runs next and throws DllNotFoundException if it fails too
    }

    /// <summary>Where the resolver looks, in order.</summary>
    public static IEnumerable<string> Candidates()
    {
        var overridden = Environment.GetEnvironmentVariable(PathVariable);
        if (!string.IsNullOrEmpty(overridden))
        {
            yield return Path.GetFullPath(overridden);
            yield break;
        }

        yield return Path.Combine(AppContext.BaseDirectory, FileName);
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "native", "build", FileName);
            if (File.Exists(candidate))
            {
                yield return candidate;
                yield break;
            }
        }
    }

    /// <summary>Null when the loaded shim matches this binding (ABI version and every struct size), else why not.</summary>
    internal static unsafe string? CheckCompatibility()
    {
        var version = NativeMethods.AbiVersion();
        if (version != ExpectedAbiVersion)
        {
            return $"the shim reports ABI version {version}, this binding needs {ExpectedAbiVersion}";
        }

        (NativeStructId Id, int Size)[] layouts =
        [
            (NativeStructId.DeviceInfo, sizeof(DeviceInfo)),
            (NativeStructId.PortInfo, sizeof(PortInfoNative)),
            (NativeStructId.MemoryRegionInfo, sizeof(MemoryRegionInfo)),
            (NativeStructId.Endpoint, sizeof(RdmaEndpoint)),
            (NativeStructId.ConnectOptions, sizeof(RdmaConnectOptions)),
            (NativeStructId.RdmaOperation, sizeof(RdmaOperation)),
            (NativeStructId.Completion, sizeof(RdmaCompletion)),
        ];
        foreach (var (id, size) in layouts)
        {
            var native = NativeMethods.StructSize((uint)id);
            if (native != size)
            {
                return $"struct {id} is {native} bytes in the shim but {size} in this binding";
            }
        }

        return null;
    }
}
