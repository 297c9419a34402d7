using System.Buffers.Binary;
using KvTier.Core;

namespace KvTier.Transport;

/// <summary>
/// The one place that says which opcodes name a namespace (by convention the body's first field, a u64) and which
/// do not. A node's authorization reads the namespace here before any handler runs, so a new namespace-bearing opcode
/// is covered by adding it to <see cref="CarriesNamespace"/> (its body must then start with the namespace), and a new
/// opcode without one by adding it to <see cref="CarriesNoNamespace"/>. An opcode in neither list is refused under
/// authentication (fail closed), and a test checks that every opcode is in exactly one. Handle-bearing opcodes
/// (reads, writes, commits, releases) carry no namespace: their handles are scoped to the tenant that received them.
/// </summary>
public static class NamespaceScopedOpcodes
{
    /// <summary>Whether requests of <paramref name="opcode"/> start with the namespace they act on.</summary>
    public static bool CarriesNamespace(Opcode opcode) => opcode is Opcode.LeaseBlocks or Opcode.ReserveBlocks or Opcode.ContainsBlocks
        or Opcode.ReadBlocks or Opcode.PutBlocks or Opcode.ReadBlocksSplit;

    /// <summary>Whether requests of <paramref name="opcode"/> act on no namespace (liveness, connection set-up, or
    /// handles the tenant was given).</summary>
    public static bool CarriesNoNamespace(Opcode opcode) => opcode is Opcode.Ping or Opcode.Authenticate or Opcode.ReadExtents
        or Opcode.ReleaseLeases or Opcode.WriteExtents or Opcode.CommitBlocks or Opcode.MapArena;

    /// <summary>The namespace a request acts on; false when its opcode carries none.</summary>
    /// <exception cref="ProtocolViolationException">The opcode carries a namespace but the body is too short to hold it.</exception>
    public static bool TryRead(Opcode opcode, ReadOnlySpan<byte> body, out NamespaceId kvNamespace)
    {
        kvNamespace = default;
        if (!CarriesNamespace(opcode))
        {
            return false;
        }

        if (body.Length < sizeof(ulong))
        {
            throw new ProtocolViolationException($"{opcode} body of {body.Length} bytes is too short to hold its namespace.");
        }

        kvNamespace = new NamespaceId(BinaryPrimitives.ReadUInt64LittleEndian(body));
        return true;
    }
}
