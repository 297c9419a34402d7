using StackExchange.Redis;

namespace KvTier.DataPlaneLoad;

/// <summary>redis-server serving the same payloads with the same batching: one MGET per load batch, one pipelined
/// run of SETs per store batch (StackExchange.Redis pipelines the un-awaited commands on its connection). One
/// multiplexer per client.</summary>
internal sealed class RedisBaseline(string endpoint)
{
    public async Task FillAsync(int blocks, int blockBytes, byte[] source)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(endpoint);
        var db = redis.GetDatabase();
        var writes = new List<Task>();
        for (var i = 0; i < blocks; i++)
        {
            writes.Add(db.StringSetAsync(Key(i), source.AsMemory(i * blockBytes, blockBytes)));
        }

        await Task.WhenAll(writes);
    }

    public Task<Figures> MeasureLoadsAsync(int blocks, int batch, int clients, TimeSpan duration) =>
        MeasureAsync(clients, duration, async (db, random) =>
        {
            var first = random.Next(0, blocks - batch);
            var keys = new RedisKey[batch];
            for (var i = 0; i < batch; i++)
            {
                keys[i] = Key(first + i);
            }

            var values = await db.StringGetAsync(keys);
            if (values.Any(v => v.IsNull))
            {
                throw new InvalidOperationException("redis lost a value");
            }
        });

    public Task<Figures> MeasureStoresAsync(int blocks, int blockBytes, int batch, byte[] source, int clients, TimeSpan duration) =>
        MeasureAsync(clients, duration, async (db, random) =>
        {
            var first = random.Next(0, blocks - batch);
            var writes = new Task<bool>[batch];
            for (var i = 0; i < batch; i++)
            {
                writes[i] = db.StringSetAsync(Key(first + i), source.AsMemory((first + i) * blockBytes, blockBytes));
            }

            await Task.WhenAll(writes);
        });

    private static RedisKey Key(int block) => $"b{block}";

    private async Task<Figures> MeasureAsync(int clients, TimeSpan duration, Func<IDatabase, Random, Task> operation)
    {
        var connections = new List<ConnectionMultiplexer>();
        try
        {
            return await Measurement.RunAsync(clients, duration, _ =>
            {
                var connection = ConnectionMultiplexer.Connect(endpoint);
                lock (connections)
                {
                    connections.Add(connection);
                }

                return connection.GetDatabase();
            }, operation);
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }
}
