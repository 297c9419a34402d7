using System.Buffers.Binary;
using KvTier.Core;

namespace KvTier.Transport;

/// <summary>
/// The one list of opcodes whose request names a namespace, which by convention is the body's first field (a u64).
/// A node's authorization reads the namespace here before any handler runs, so a new namespace-bearing opcode is
/// covered by adding it to <see cref="CarriesNamespace"/>; its body must then start with the namespace.
/// Handle-bearing opcodes (reads, writes, commits, releases) carry no namespace: their handles are scoped to the
/// tenant that received them instead.
/// </summary>
public static class NamespaceScopedOpcodes
{
    /// <summary>Whether requests of <paramref name="opcode"/> start with the namespace they act on.</summary>
    public static bool CarriesNamespace(Opcode opcode) => opcode is Opcode.LeaseBlocks or Opcode.ReserveBlocks or Opcode.ContainsBlocks;

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
