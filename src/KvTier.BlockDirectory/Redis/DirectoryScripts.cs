namespace KvTier.BlockDirectory.Redis;

/// <summary>
/// Server-side Lua scripts. Every block script touches only the keys it is given, and the client gives it keys of one
/// hash slot (one span) on a cluster, so the scripts run unchanged on a single server and on a cluster. Times come
/// from the server clock (TIME), so writers with skewed clocks agree on expiry.
/// </summary>
internal static class DirectoryScripts
{
    private const string Helpers = """
        local function be8(s, at)
          local n = 0
          for i = at, at + 7 do n = n * 256 + string.byte(s, i) end
          return n
        end
        local function to8(n)
          local b = {}
          for i = 8, 1, -1 do b[i] = n % 256; n = math.floor(n / 256) end
          return string.char(unpack(b))
        end
        local function now_ms()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local function failed(r) return type(r) == 'table' and r.err ~= nil end
        """;

    /// <summary>
    /// KEYS: block keys (chain order for prefix mode). ARGV[1]: live nodes as 16-byte (id, epoch) pairs;
    /// ARGV[2]: lapsed node ids (8 bytes each), whose entries are deleted on sight; ARGV[3]: 'p' (stop at the first key
    /// without a visible entry) or 'e' (answer every key); ARGV[4]: read lease in ms (0: none).
    /// Returns { malformed count, lease-until ms or 0, answers }: answers is one string holding, per answered key, a
    /// count byte n and n visible entries of 30 bytes (8-byte node field, 22-byte record); one bulk string keeps the
    /// reply cheap to build here and to parse in the client.
    /// </summary>
    public const string Lookup = Helpers + """

        local live, lapsed = {}, {}
        local blob = ARGV[1]
        for i = 1, #blob, 16 do live[string.sub(blob, i, i + 7)] = string.sub(blob, i + 8, i + 15) end
        blob = ARGV[2]
        for i = 1, #blob, 8 do lapsed[string.sub(blob, i, i + 7)] = true end
        local prefix_mode = ARGV[3] == 'p'
        local lease = tonumber(ARGV[4])
        local never = string.rep('\0', 8)
        local now = now_ms()
        local malformed, lease_until = 0, 0
        local parts = {}
        for k = 1, #KEYS do
          local key = KEYS[k]
          local visible, count = {}, 0
          local r = redis.pcall('HGETALL', key)
          if failed(r) then
            malformed = malformed + 1
          else
            for j = 1, #r, 2 do
              local f, v = r[j], r[j + 1]
              if #f == 8 then
                if #v ~= 22 or string.byte(v, 1) ~= 1 then
                  malformed = malformed + 1
                else
                  local expiry = string.sub(v, 15, 22)
                  if (expiry ~= never and be8(expiry, 1) <= now) or lapsed[f] then
                    redis.call('HDEL', key, f)
                  elseif live[f] == string.sub(v, 7, 14) and count < 255 then
                    count = count + 1
                    visible[count] = f .. v
                  end
                end
              elseif f ~= 'L' then
                malformed = malformed + 1
              end
            end
          end
          if count == 0 and prefix_mode then break end
          if count > 0 and lease > 0 then
            local current = redis.call('HGET', key, 'L')
            local until_ms = now + lease
            if current and #current == 8 and be8(current, 1) > until_ms then until_ms = be8(current, 1) end
            redis.call('HSET', key, 'L', to8(until_ms))
            if until_ms > lease_until then lease_until = until_ms end
          end
          parts[#parts + 1] = string.char(count)
          if count > 0 then parts[#parts + 1] = table.concat(visible) end
        end
        return { malformed, lease_until, table.concat(parts) }
        """;

    /// <summary>KEYS: block keys; ARGV: per key (node field, 14-byte location prefix, ttl ms or 0). Returns the count of
    /// keys that hold something other than our hash (not written).</summary>
    public const string Publish = Helpers + """

        local now = now_ms()
        local refused = 0
        for k = 1, #KEYS do
          local key, field, record, ttl = KEYS[k], ARGV[3 * k - 2], ARGV[3 * k - 1], tonumber(ARGV[3 * k])
          local expires = 0
          if ttl > 0 then expires = now + ttl end
          local r = redis.pcall('HSET', key, field, record .. to8(expires))
          if failed(r) then
            refused = refused + 1
          elseif ttl == 0 then
            redis.call('PERSIST', key)
          else
            -- The key must outlive its longest-lived entry: entries without a TTL keep it persistent.
            local at = redis.call('PEXPIRETIME', key)
            if at == -1 and redis.call('HLEN', key) == 1 then
              redis.call('PEXPIREAT', key, expires)
            elseif at > 0 and expires > at then
              redis.call('PEXPIREAT', key, expires)
            end
          end
        end
        return refused
        """;

    /// <summary>KEYS: block keys; ARGV[1]: node field. Returns how many keys held an entry of that node.</summary>
    public const string Unpublish = Helpers + """

        local removed = 0
        for k = 1, #KEYS do
          local r = redis.pcall('HDEL', KEYS[k], ARGV[1])
          if not failed(r) then removed = removed + r end
        end
        return removed
        """;

    /// <summary>KEYS: block keys. Returns per key the read lease's end in ms, or 0.</summary>
    public const string Leases = Helpers + """

        local now = now_ms()
        local out = {}
        for k = 1, #KEYS do
          local r = redis.pcall('HGET', KEYS[k], 'L')
          local until_ms = 0
          if type(r) == 'string' and #r == 8 then until_ms = be8(r, 1) end
          if until_ms <= now then until_ms = 0 end
          out[k] = until_ms
        end
        return out
        """;

    /// <summary>KEYS[1]: one block key; ARGV[1]: live nodes as 16-byte (id, epoch) pairs. Removes entries that are not
    /// visible (unknown, lapsed or stale-epoch node; past their TTL). Returns the count removed.</summary>
    public const string Sweep = Helpers + """

        local live = {}
        local blob = ARGV[1]
        for i = 1, #blob, 16 do live[string.sub(blob, i, i + 7)] = string.sub(blob, i + 8, i + 15) end
        local now = now_ms()
        local r = redis.pcall('HGETALL', KEYS[1])
        if failed(r) then return 0 end
        local removed = 0
        for j = 1, #r, 2 do
          local f, v = r[j], r[j + 1]
          if #f == 8 and #v == 22 and string.byte(v, 1) == 1 then
            local expires = be8(v, 15)
            if (expires ~= 0 and expires <= now) or live[f] ~= string.sub(v, 7, 14) then
              redis.call('HDEL', KEYS[1], f)
              removed = removed + 1
            end
          elseif f == 'L' and #v == 8 and be8(v, 1) <= now then
            redis.call('HDEL', KEYS[1], f)
          end
        end
        return removed
        """;

    /// <summary>KEYS[1]: registry; KEYS[2]: node key. ARGV: node field, node record, heartbeat ttl ms.</summary>
    public const string Register = """
        redis.call('SADD', KEYS[1], ARGV[1])
        redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
        return 1
        """;

    /// <summary>KEYS[1]: node key. ARGV: free bytes (8-byte big-endian), heartbeat ttl ms.
    /// Returns 1 when renewed, 0 when the node is not live, -1 when free exceeds capacity, -2 for a foreign record.</summary>
    public const string Heartbeat = Helpers + """

        local r = redis.pcall('GET', KEYS[1])
        if failed(r) then return -2 end
        if not r then return 0 end
        if #r < 30 or string.byte(r, 1) ~= 1 then return -2 end
        if be8(ARGV[1], 1) > be8(r, 11) then return -1 end
        redis.call('SET', KEYS[1], string.sub(r, 1, 18) .. ARGV[1] .. string.sub(r, 27), 'PX', ARGV[2])
        return 1
        """;

    /// <summary>KEYS[1]: registry; KEYS[2]: node key. ARGV[1]: node field.</summary>
    public const string Deregister = """
        redis.call('SREM', KEYS[1], ARGV[1])
        redis.call('DEL', KEYS[2])
        return 1
        """;

    /// <summary>KEYS[1]: registry; ARGV[1]: the node key base (a node key is the base and the 8-byte id; same slot).
    /// Returns {id, record or false, ...} for every registered id; false marks a lapsed heartbeat.</summary>
    public const string Members = """
        local ids = redis.call('SMEMBERS', KEYS[1])
        local out = {}
        for i = 1, #ids do
          out[#out + 1] = ids[i]
          local r = redis.pcall('GET', ARGV[1] .. ids[i])
          if type(r) ~= 'string' then r = false end
          out[#out + 1] = r
        end
        return out
        """;

    /// <summary>KEYS[1]: registry; ARGV[1]: node key base; ARGV[2..]: lapsed ids. Drops those still lapsed.</summary>
    public const string ForgetLapsed = """
        local dropped = 0
        for i = 2, #ARGV do
          if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then
            dropped = dropped + redis.call('SREM', KEYS[1], ARGV[i])
          end
        end
        return dropped
        """;
}
