using System.Text;
using KvTier.Core.SharedMemory;
using KvTier.Transport;
using KvTier.Transport.Messages;
using KvTier.Transport.Tcp;

namespace KvTier.Node.DataPlane;

/// <summary>MapArena: tells a client where the shared arena file is, so a client on this host copies leased extents
/// straight out of it. Only the path and the run id go out; the file's permissions decide who can open it.</summary>
public sealed partial class BlockStoreFrameHandler
{
    private static readonly byte[] NotSharedReason =
        Encoding.UTF8.GetBytes("this node does not share its arena (SharedMemory:Directory is unset)");

    private static readonly byte[] NotForTenantsReason = Encoding.UTF8.GetBytes(
        "this node has tenant tokens and does not share its arena with them: a mapping reads every tenant's blocks (SharedMemory:AllowTenants)");

    private ValueTask MapArenaAsync(FrameResponder responder, CancellationToken cancellationToken)
    {
        if (store.SharedArena is not { } shared)
        {
            return responder.SendAsync(FrameStatus.BadRequest, NotSharedReason, cancellationToken);
        }

        if (options.Auth.Enabled && !options.SharedMemory.AllowTenants)
        {
            return responder.SendAsync(FrameStatus.Unauthorized, NotForTenantsReason, cancellationToken);
        }

        var answer = new MapArenaAnswer(shared.Instance, store.ArenaLength, SharedArenaHeader.ArenaOffset, shared.Path, shared.GroupWrites);
        return responder.SendAsync(FrameStatus.Ok, answer.Encode(), cancellationToken);
    }
}
