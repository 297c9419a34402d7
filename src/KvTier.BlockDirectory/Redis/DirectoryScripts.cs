namespace KvTier.BlockDirectory.Redis;

/// <summary>
/// Server-side Lua scripts. Every block script touches only the keys it is given, and the client gives it keys of one
/// hash slot (one span) on a cluster, so the scripts run unchanged on a single server and on a cluster. Times come
/// from the server clock (TIME), so writers with skewed clocks agree on expiry. A block is one string (see
/// <see cref="RecordFormat"/>): a lookup reads all its keys with one MGET, because a Redis call from Lua costs far more
/// than the Lua work on the value.
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
        local never = string.rep('\0', 8)
        -- A block value: [version 1][lease-until ms:8][count:1] then count entries of 29 bytes:
        -- [node:8][epoch:8][tier:1][size:4][expires-at ms:8]. Returns the entry count, or nil when it is not ours.
        -- Node and epoch come first and together, so one 16-byte substring answers "is this copy live?".
        local function entries(v)
          if #v < 10 or string.byte(v, 1) ~= 1 then return nil end
          local n = string.byte(v, 10)
          if #v ~= 10 + 29 * n then return nil end
          return n
        end
        local function expired(v, at, now)
          local a, b, c, d, e, f, g, h = string.byte(v, at + 21, at + 28)
          if a + b + c + d + e + f + g + h == 0 then return false end -- no TTL: the common case, no string made
          return be8(v, at + 21) <= now
        end
        -- Writes the kept entries back (keeping the key's TTL), or deletes the key when none is left.
        local function store(key, header, kept)
          if #kept == 0 then
            redis.call('DEL', key)
          else
            redis.call('SET', key, header .. string.char(#kept) .. table.concat(kept), 'KEEPTTL')
          end
        end
        """;

    /// <summary>
    /// KEYS: block keys (chain order for prefix mode). ARGV[1]: live nodes as 16-byte (id, epoch) pairs;
    /// ARGV[2]: lapsed node ids (8 bytes each), whose entries are deleted on sight; ARGV[3]: 'p' (stop at the first key
    /// without a visible entry) or 'e' (answer every key); ARGV[4]: read lease in ms (0: none).
    /// Returns { malformed count, lease-until ms or 0, answers }: answers is one string holding, per answered key, a
    /// count byte n and n visible 29-byte entries.
    /// </summary>
    public const string Lookup = Helpers + """

        local live, lapsed = {}, {}
        local blob = ARGV[1]
        for i = 1, #blob, 16 do live[string.sub(blob, i, i + 15)] = true end
        blob = ARGV[2]
        local any_lapsed = #blob > 0
        for i = 1, #blob, 8 do lapsed[string.sub(blob, i, i + 7)] = true end
        local prefix_mode = ARGV[3] == 'p'
        local lease = tonumber(ARGV[4])
        local now = now_ms()
        local malformed, lease_until = 0, 0
        local values = redis.call('MGET', unpack(KEYS))
        local parts = {}
        for k = 1, #KEYS do
          local v = values[k]
          local count, answer = 0, nil
          if v then
            local n = entries(v)
            if not n then
              malformed = malformed + 1
            else
              -- First pass: which entries are visible, and whether any must be deleted (expired, lapsed node).
              local dirty, shown = false, {}
              for i = 0, n - 1 do
                local at = 11 + 29 * i
                if expired(v, at, now) or (any_lapsed and lapsed[string.sub(v, at, at + 7)]) then
                  dirty = true
                elseif live[string.sub(v, at, at + 15)] then
                  count = count + 1
                  shown[i] = true
                end
              end
              if count == n then
                answer = string.sub(v, 11) -- every entry visible: one copy, no per-entry strings
              elseif count > 0 then
                local parts_of_key = {}
                for i = 0, n - 1 do
                  if shown[i] then parts_of_key[#parts_of_key + 1] = string.sub(v, 11 + 29 * i, 39 + 29 * i) end
                end
                answer = table.concat(parts_of_key)
              end
              local header = string.sub(v, 1, 9)
              if count > 0 and lease > 0 then
                local until_ms = now + lease
                local current = be8(v, 2)
                if current > until_ms then until_ms = current end
                if until_ms > lease_until then lease_until = until_ms end
                header = string.char(1) .. to8(until_ms)
                dirty = true
              end
              if dirty then
                local kept = {}
                for i = 0, n - 1 do
                  local at = 11 + 29 * i
                  if not (expired(v, at, now) or lapsed[string.sub(v, at, at + 7)]) then kept[#kept + 1] = string.sub(v, at, at + 28) end
                end
                store(KEYS[k], header, kept)
              end
            end
          end
          if count == 0 and prefix_mode then break end
          parts[#parts + 1] = string.char(count)
          if answer then parts[#parts + 1] = answer end
        end
        return { malformed, lease_until, table.concat(parts) }
        """;

    /// <summary>KEYS: block keys; ARGV: per key (29-byte entry whose expiry is filled in here, ttl ms or 0). Returns the
    /// count of keys that hold something that is not our record (not written).</summary>
    public const string Publish = Helpers + """

        local now = now_ms()
        local refused = 0
        for k = 1, #KEYS do
          local key, entry, ttl = KEYS[k], ARGV[2 * k - 1], tonumber(ARGV[2 * k])
          local expires = 0
          if ttl > 0 then expires = now + ttl end
          entry = string.sub(entry, 1, 21) .. to8(expires)
          local node = string.sub(entry, 1, 8)
          local v = redis.pcall('GET', key)
          if type(v) == 'table' then
            refused = refused + 1 -- a key of another type: not ours
          else
            local header, kept, n = string.char(1) .. never, {}, 0
            if v then n = entries(v) end
            if not n then
              refused = refused + 1
            else
              if v then
                header = string.sub(v, 1, 9)
                for i = 0, n - 1 do
                  local at = 11 + 29 * i
                  if string.sub(v, at, at + 7) ~= node and not expired(v, at, now) then
                    kept[#kept + 1] = string.sub(v, at, at + 28)
                  end
                end
              end
              if #kept < 255 then
                kept[#kept + 1] = entry
                store(key, header, kept)
                -- The key must outlive its longest-lived entry: an entry without a TTL makes it persistent.
                if ttl == 0 then
                  redis.call('PERSIST', key)
                else
                  local at = redis.call('PEXPIRETIME', key)
                  if (at == -1 and not v) or (at > 0 and expires > at) then redis.call('PEXPIREAT', key, expires) end
                end
              else
                refused = refused + 1
              end
            end
          end
        end
        return refused
        """;

    /// <summary>KEYS: block keys; ARGV[1]: node field. Returns how many keys held an entry of that node.</summary>
    public const string Unpublish = Helpers + """

        local removed = 0
        for k = 1, #KEYS do
          local v = redis.pcall('GET', KEYS[k])
          local n = type(v) == 'string' and entries(v)
          if n then
            local kept, hit = {}, false
            for i = 0, n - 1 do
              local at = 11 + 29 * i
              if string.sub(v, at, at + 7) == ARGV[1] then hit = true else kept[#kept + 1] = string.sub(v, at, at + 28) end
            end
            if hit then
              removed = removed + 1
              store(KEYS[k], string.sub(v, 1, 9), kept)
            end
          end
        end
        return removed
        """;

    /// <summary>KEYS: block keys. Returns per key the read lease's end in ms, or 0.</summary>
    public const string Leases = Helpers + """

        local now = now_ms()
        local out = {}
        local values = redis.call('MGET', unpack(KEYS))
        for k = 1, #KEYS do
          local v = values[k]
          local until_ms = 0
          if v and entries(v) then until_ms = be8(v, 2) end
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
        for i = 1, #blob, 16 do live[string.sub(blob, i, i + 15)] = true end
        local now = now_ms()
        local v = redis.pcall('GET', KEYS[1])
        local n = type(v) == 'string' and entries(v)
        if not n then return 0 end
        local kept = {}
        for i = 0, n - 1 do
          local at = 11 + 29 * i
          if not expired(v, at, now) and live[string.sub(v, at, at + 15)] then
            kept[#kept + 1] = string.sub(v, at, at + 28)
          end
        end
        if #kept < n then store(KEYS[1], string.sub(v, 1, 9), kept) end
        return n - #kept
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
        if type(r) == 'table' then return -2 end
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
