using System.Diagnostics;
using System.Runtime.InteropServices;
using KvTier.Rdma;
using KvTier.RdmaCheck;

// kvtier-rdma-check [--device NAME] [--seconds N] [--no-node]
// Two RC queue pairs of this process on one device, connected to each other: A reads and writes B's "arena"; then
// the RDMA transport's parts (arena server, extent reader) on the same device (TransportCheck); then a real node and
// a real client in this process, over that device and the node's gRPC control plane on loopback (NodeCheck).
// Exit: 0 all checks passed, 1 a check failed, 2 no usable RDMA device.
string? deviceName = null;
var seconds = 1.0;
var withNode = true;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--device": deviceName = args[++i]; break;
        case "--seconds": seconds = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--no-node": withNode = false; break;
        default:
            Console.Error.WriteLine($"unknown argument '{args[i]}' (use --device, --seconds, --no-node)");
            return 64;
    }
}

var report = RdmaCapability.Detect();
Console.WriteLine($"detect: {report.Availability}: {report.Reason} (shim {RdmaLibrary.LoadedFrom ?? "not loaded"})");
if (!report.IsAvailable)
{
    return 2;
}

const int Block = 64 << 10;
const int Batch = 64;
const int RegionBytes = Block * Batch * 2;
var failures = new List<string>();
void Check(bool condition, string what)
{
    Console.WriteLine($"{(condition ? "PASS" : "FAIL")} {what}");
    if (!condition)
    {
        failures.Add(what);
    }
}

unsafe
{
    using var context = RdmaContext.Open(deviceName);
    Console.WriteLine($"port {context.Port.PortNumber}: GID index {context.Port.GidIndex} type {context.Port.GidType}, " +
                      $"MTU {context.Port.ActiveMtu}, active {context.Port.IsActive}");
    using var completionQueue = context.CreateCompletionQueue(4096);
    using var peerQueue = context.CreateCompletionQueue(64);
    using var a = context.CreateQueuePair(completionQueue, 1024);
    using var b = context.CreateQueuePair(peerQueue, 16);
    var localBytes = (byte*)NativeMemory.AlignedAlloc(RegionBytes, 4096);
    var arenaBytes = (byte*)NativeMemory.AlignedAlloc(RegionBytes, 4096);
    try
    {
        var local = new Span<byte>(localBytes, RegionBytes);
        var arena = new Span<byte>(arenaBytes, RegionBytes);
        using var localRegion = context.RegisterMemory((nint)localBytes, RegionBytes, RdmaAccess.LocalWrite);
        using var arenaRegion = context.RegisterMemory((nint)arenaBytes, RegionBytes, RdmaAccess.RemoteRead | RdmaAccess.RemoteWrite);
        void Connect()
        {
            var endpointA = a.LocalEndpoint;
            var endpointB = b.LocalEndpoint;
            a.Connect(endpointB);
            b.Connect(endpointA);
        }

        Connect();
        var completions = new RdmaCompletion[Batch * 2];
        int Drain(int expected)
        {
            var have = 0;
            var watch = Stopwatch.StartNew();
            while (have < expected && watch.Elapsed.TotalSeconds < 10)
            {
                have += completionQueue.Poll(completions.AsSpan(have, expected - have));
            }

            return have;
        }

        static bool Same(byte* x, byte* y) => new ReadOnlySpan<byte>(x, Block).SequenceEqual(new ReadOnlySpan<byte>(y, Block));

        RdmaOperation Op(ulong id, RdmaOpcode opcode, int localOffset, int remoteOffset, RdmaOperationFlags flags) => new()
        {
            RequestId = id,
            LocalAddress = localRegion.Address + (ulong)localOffset,
            RemoteAddress = arenaRegion.Address + (ulong)remoteOffset,
            Length = Block,
            RemoteKey = arenaRegion.RemoteKey,
            Opcode = opcode,
            Flags = flags,
        };

        Random.Shared.NextBytes(local);
        arena.Clear();
        var writes = Enumerable.Range(0, Batch).Select(i => Op((ulong)i, RdmaOpcode.Write, i * Block, (Batch - 1 - i) * Block, 0)).ToArray();
        a.Post(localRegion, writes);
        var got = Drain(1);
        var placed = true;
        for (var i = 0; i < Batch; i++)
        {
            placed &= Same(localBytes + (i * Block), arenaBytes + ((Batch - 1 - i) * Block));
        }

        Check(got == 1 && completions[0].Succeeded && placed, $"batch of {Batch} x 64 KiB WRITEs, one signaled completion, bytes placed");

        Random.Shared.NextBytes(arena);
        local.Clear();
        var reads = Enumerable.Range(0, Batch).Select(i => Op(1000 + (ulong)i, RdmaOpcode.Read, i * Block, (i * 7 % (Batch * 2)) * Block, RdmaOperationFlags.Signaled)).ToArray();
        a.Post(localRegion, reads);
        got = Drain(Batch);
        var inOrder = got == Batch && Enumerable.Range(0, Batch).All(i => completions[i].RequestId == 1000 + (ulong)i && completions[i].Succeeded);
        var readBack = true;
        for (var i = 0; i < Batch; i++)
        {
            readBack &= Same(localBytes + (i * Block), arenaBytes + (i * 7 % (Batch * 2) * Block));
        }

        Check(inOrder && readBack, $"batch of {Batch} signaled READs complete in order with the arena's bytes");

        var bad = reads[..4].ToArray();
        bad[1].RemoteKey ^= 0x00F0_0F00;
        a.Post(localRegion, bad);
        got = Drain(4);
        Check(got == 4 && completions[0].Succeeded && completions[1].Status == RdmaCompletionStatus.RemoteAccess &&
              completions[2].Status == RdmaCompletionStatus.Flushed && completions[3].Status == RdmaCompletionStatus.Flushed,
            "a bad rkey fails its own READ with RemoteAccess and flushes the rest");
        a.Reset();
        b.Reset();
        Connect();
        a.Post(localRegion, reads.AsSpan()[..1]);
        Check(Drain(1) == 1 && completions[0].Succeeded, "reset and reconnect recover the queue pair");

        var outside = Op(9, RdmaOpcode.Read, RegionBytes - Block / 2, 0, 0);
        Check(a.TryPost(localRegion, [outside], out var posted) == -34 && posted == 0, "a local range outside the region is refused (-ERANGE)");

        var total = 0L;
        var clock = Stopwatch.StartNew();
        var unsignaled = reads.Select(r => r with { Flags = RdmaOperationFlags.None }).ToArray();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            a.Post(localRegion, unsignaled);
            if (Drain(1) != 1 || !completions[0].Succeeded)
            {
                failures.Add("throughput loop lost a completion");
                break;
            }

            total += (long)Block * Batch;
        }

        Console.WriteLine($"READ throughput (informational): {total / clock.Elapsed.TotalSeconds / 1e6:F1} MB/s " +
                          $"in batches of {Batch} x 64 KiB over {clock.Elapsed.TotalSeconds:F1} s");
    }
    finally
    {
        NativeMemory.AlignedFree(localBytes);
        NativeMemory.AlignedFree(arenaBytes);
    }
}

try
{
    await TransportCheck.RunAsync(deviceName, Check);
}
catch (RdmaException error)
{
    Check(false, $"transport: {error.Message}");
}

if (withNode)
{
    try
    {
        await NodeCheck.RunAsync(deviceName, Check);
    }
    catch (Exception error) when (error is RdmaException or IOException or InvalidOperationException or OperationCanceledException
        or ArgumentException or Grpc.Core.RpcException)
    {
        Check(false, $"node and client: {error.GetType().Name}: {error.Message}");
    }
}

Console.WriteLine(failures.Count == 0 ? "RDMA-CHECK PASSED" : $"RDMA-CHECK FAILED: {string.Join("; ", failures)}");
return failures.Count == 0 ? 0 : 1;
