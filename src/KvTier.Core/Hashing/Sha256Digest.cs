using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace KvTier.Core.Hashing;

/// <summary>
/// SHA-256 for many small inputs. The BCL routes every call through an OpenSSL EVP context, whose set-up and
/// dispatch cost more than hashing one 16-token block; where libcrypto 3 is present (every Linux that runs .NET's
/// cryptography) we call its low-level <c>SHA256_Init/Update/Final</c> directly, which uses the CPU's SHA extensions. Elsewhere we
/// fall back to a reused per-thread <see cref="IncrementalHash"/>.
/// </summary>
internal static partial class Sha256Digest
{
    private const string LibCrypto = "libcrypto.so.3";

    [ThreadStatic]
    private static IncrementalHash? reusable;

    /// <summary>Whether the direct libcrypto path is in use (reported by benchmarks and tests).</summary>
    public static bool UsesLibCrypto { get; } = ProbeLibCrypto();

    public static unsafe void Hash(ReadOnlySpan<byte> input, Span<byte> digest)
    {
        if (digest.Length < 32)
        {
            throw new ArgumentException("A SHA-256 digest needs 32 bytes.", nameof(digest));
        }

        if (UsesLibCrypto)
        {
            HashWithLibCrypto(input, digest);
            return;
        }

        var sha = reusable ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(input);
        sha.GetHashAndReset(digest);
    }

    private static unsafe bool ProbeLibCrypto()
    {
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad(LibCrypto, out _))
        {
            return false;
        }

        try
        {
            // Trust it only if it agrees with the BCL on a known input.
            ReadOnlySpan<byte> probe = "kvtier sha256 probe"u8;
            Span<byte> ours = stackalloc byte[32];
            HashWithLibCrypto(probe, ours);
            return ours.SequenceEqual(SHA256.HashData(probe));
        }
        catch (Exception error) when (error is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Bytes reserved for OpenSSL's SHA256_CTX (112 bytes in OpenSSL 3), with room to spare.</summary>
    private const int ContextBytes = 256;

    private static unsafe void HashWithLibCrypto(ReadOnlySpan<byte> input, Span<byte> digest)
    {
        // The low-level calls on a stack context: OpenSSL 3's one-shot SHA256() fetches the algorithm from its provider
        // on every call, which costs more than hashing a small block.
        var context = stackalloc byte[ContextBytes];
        fixed (byte* source = input)
        fixed (byte* destination = digest)
        {
            if (Init(context) != 1 || Update(context, source, (nuint)input.Length) != 1 || Final(destination, context) != 1)
            {
                throw new CryptographicException("libcrypto SHA256_Init/Update/Final failed.");
            }
        }
    }

    // Short, non-blocking, no callbacks: safe to skip the GC transition.
    [LibraryImport(LibCrypto, EntryPoint = "SHA256_Init")]
    [SuppressGCTransition]
    private static unsafe partial int Init(byte* context);

    [LibraryImport(LibCrypto, EntryPoint = "SHA256_Update")]
    [SuppressGCTransition]
    private static unsafe partial int Update(byte* context, byte* data, nuint length);

    [LibraryImport(LibCrypto, EntryPoint = "SHA256_Final")]
    [SuppressGCTransition]
    private static unsafe partial int Final(byte* digest, byte* context);
}
