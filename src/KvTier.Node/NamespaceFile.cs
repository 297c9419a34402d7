using System.Buffers.Binary;
using System.IO.Hashing;
using Google.Protobuf;
using KvTier.Core;
using KvTier.Transport.ControlPlane;

namespace KvTier.Node;

/// <summary>
/// The namespaces a node serves, kept in <c>namespaces.kvt</c> beside the NVMe segments so a restarted node serves
/// them again. Format (little-endian): <c>magic "KTNS" | format version u32 (1) | payload length u32 | XXH3-64 of the
/// payload u64 | payload</c>, the payload being the control plane's <c>ListNamespacesReply</c> (descriptors and their
/// ids) in protobuf. Written whole to a temporary file, flushed to disk, then renamed over the old one, so a crash
/// leaves the old or the new file, never a mix. A file that fails any check stops the start with its path and the
/// reason: namespaces are never dropped silently.
/// </summary>
public static class NamespaceFile
{
    /// <summary>The file name inside the NVMe directory.</summary>
    public const string FileName = "namespaces.kvt";

    /// <summary>The format version this build writes and reads.</summary>
    public const uint FormatVersion = 1;

    private const int HeaderSize = 20;
    private static readonly uint Magic = BinaryPrimitives.ReadUInt32LittleEndian("KTNS"u8);

    /// <summary>Reads the namespaces stored at <paramref name="path"/>; none when the file does not exist.</summary>
    /// <exception cref="InvalidDataException">The file exists but is unreadable, corrupt, or of an unknown version;
    /// the message names the file.</exception>
    public static IReadOnlyList<KvNamespace> Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            return [];
        }

        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw Corrupt(path, $"it cannot be read ({error.Message})", error);
        }

        if (bytes.Length < HeaderSize || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic)
        {
            throw Corrupt(path, "it is not a KvTier namespaces file (bad magic or shorter than its header)");
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4));
        if (version != FormatVersion)
        {
            throw Corrupt(path, $"its format version is {version}; this build reads version {FormatVersion}");
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        if (length != bytes.Length - HeaderSize)
        {
            throw Corrupt(path, $"its header declares {length} payload bytes but {bytes.Length - HeaderSize} follow (truncated or extended)");
        }

        var payload = bytes.AsSpan(HeaderSize);
        if (XxHash3.HashToUInt64(payload) != BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(12)))
        {
            throw Corrupt(path, "its checksum does not match its contents");
        }

        ListNamespacesReply stored;
        try
        {
            stored = ListNamespacesReply.Parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException error)
        {
            throw Corrupt(path, $"its payload does not parse ({error.Message})", error);
        }

        if (stored.Namespaces.Count != stored.NamespaceIds.Count)
        {
            throw Corrupt(path, $"it lists {stored.Namespaces.Count} namespaces but {stored.NamespaceIds.Count} ids");
        }

        var namespaces = new List<KvNamespace>(stored.Namespaces.Count);
        for (var i = 0; i < stored.Namespaces.Count; i++)
        {
            KvNamespace kvNamespace;
            try
            {
                kvNamespace = NamespaceRegistry.FromDescriptor(stored.Namespaces[i]);
            }
            catch (Exception error) when (error is ArgumentException or FormatException)
            {
                throw Corrupt(path, $"namespace {i} is invalid ({error.Message})", error);
            }

            if (kvNamespace.Id.Value != stored.NamespaceIds[i])
            {
                // The id is a hash of the descriptor: a different id means this build would serve other blocks under it.
                throw Corrupt(path, $"namespace {i} hashes to {kvNamespace.Id}, not to its stored id {new NamespaceId(stored.NamespaceIds[i])}");
            }

            namespaces.Add(kvNamespace);
        }

        return namespaces;
    }

    /// <summary>Replaces the file at <paramref name="path"/> with <paramref name="namespaces"/>, atomically.</summary>
    /// <exception cref="IOException">The file could not be written (the previous file is left as it was).</exception>
    public static void Write(string path, IEnumerable<KvNamespace> namespaces)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(namespaces);
        var reply = new ListNamespacesReply();
        foreach (var kvNamespace in namespaces.OrderBy(n => n.Id.Value))
        {
            reply.Namespaces.Add(NamespaceRegistry.ToDescriptor(kvNamespace));
            reply.NamespaceIds.Add(kvNamespace.Id.Value);
        }

        var payload = reply.ToByteArray();
        var bytes = new byte[HeaderSize + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)payload.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(12), XxHash3.HashToUInt64(payload));
        payload.CopyTo(bytes.AsSpan(HeaderSize));

        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(bytes);
            file.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    private static InvalidDataException Corrupt(string path, string reason, Exception? inner = null) => new(
        $"Namespaces file '{path}' is unusable: {reason}. The node does not start without the namespaces it served: restore the file, or remove it and register the namespaces again.",
        inner);
}
