using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using KvTier.Core;
using KvTier.Transport.Tcp;

namespace KvTier.Node.Security;

/// <summary>
/// The bearer tokens a node accepts, read from <c>Auth:TokensFile</c>. The file holds only each token's SHA-256,
/// never the token:
/// <code>
/// { "tokens": [ { "tenant": "acme", "sha256": "64 hex digits", "namespaces": ["*"], "admin": false } ] }
/// </code>
/// <c>namespaces</c> lists namespace ids (16 hex digits, as ListNamespaces shows them) or "*" for all. A presented
/// token is hashed and compared with every entry in constant time.
/// </summary>
public sealed class TenantTokens : IFrameAuthenticator
{
    private readonly (byte[] Hash, TenantGrant Grant)[] entries;

    private TenantTokens((byte[] Hash, TenantGrant Grant)[] entries) => this.entries = entries;

    /// <summary>Tokens known.</summary>
    public int Count => entries.Length;

    /// <summary>Reads and validates a tokens file.</summary>
    /// <exception cref="InvalidDataException">The file cannot be read or an entry is invalid; the message names the
    /// file and the entry.</exception>
    public static TenantTokens Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"Tokens file '{path}' cannot be read: {error.Message}", error);
        }

        try
        {
            return Parse(text);
        }
        catch (Exception error) when (error is JsonException or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            throw new InvalidDataException($"Tokens file '{path}' is invalid: {error.Message}", error);
        }
    }

    /// <summary>Parses the JSON form.</summary>
    /// <exception cref="FormatException">An entry is invalid; the message names it.</exception>
    public static TenantTokens Parse(string json)
    {
        using var document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        if (!document.RootElement.TryGetProperty("tokens", out var list) || list.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException("the top level must be an object with a \"tokens\" array.");
        }

        var entries = new List<(byte[], TenantGrant)>();
        var index = 0;
        foreach (var item in list.EnumerateArray())
        {
            var where = $"tokens[{index++}]";
            var tenant = Text(item, "tenant", where);
            var hashText = Text(item, "sha256", where);
            byte[] hash;
            try
            {
                hash = Convert.FromHexString(hashText);
            }
            catch (FormatException)
            {
                hash = [];
            }

            if (hash.Length != SHA256.HashSizeInBytes)
            {
                throw new FormatException($"{where}.sha256 must be 64 hex digits (the SHA-256 of the token, e.g. from 'printf %s TOKEN | sha256sum'), got '{hashText}'.");
            }

            if (entries.Any(entry => entry.Item1.AsSpan().SequenceEqual(hash)))
            {
                throw new FormatException($"{where}.sha256 repeats an earlier token's hash.");
            }

            var admin = item.TryGetProperty("admin", out var adminValue) && adminValue.ValueKind == JsonValueKind.True;
            var any = false;
            var namespaces = new List<NamespaceId>();
            if (!item.TryGetProperty("namespaces", out var namespaceList) || namespaceList.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException($"{where}.namespaces must be an array of namespace ids (16 hex digits) or \"*\".");
            }

            foreach (var value in namespaceList.EnumerateArray())
            {
                var name = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.ToString();
                if (name == "*")
                {
                    any = true;
                }
                else if (name.Length == 16 && ulong.TryParse(name, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var id))
                {
                    namespaces.Add(new NamespaceId(id));
                }
                else
                {
                    throw new FormatException($"{where}.namespaces has '{name}', which is neither \"*\" nor a namespace id of 16 hex digits.");
                }
            }

            entries.Add((hash, new TenantGrant(tenant, admin, any, namespaces)));
        }

        if (entries.Count == 0)
        {
            throw new FormatException("\"tokens\" is empty: with authentication on, at least one token must be listed.");
        }

        return new TenantTokens([.. entries]);
    }

    /// <summary>The SHA-256 of a token as the tokens file lists it (lowercase hex).</summary>
    public static string HashOf(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
    }

    /// <summary>The grant of a token, or null when it is unknown.</summary>
    public TenantGrant? Find(ReadOnlySpan<byte> token)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(token, hash);
        TenantGrant? found = null;
        foreach (var (known, grant) in entries)
        {
            // Every entry is compared, so the time taken does not say which one matched.
            if (CryptographicOperations.FixedTimeEquals(known, hash))
            {
                found = grant;
            }
        }

        return found;
    }

    /// <summary>The grant of a token given as text, or null when it is unknown.</summary>
    public TenantGrant? Find(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var bytes = Encoding.UTF8.GetBytes(token);
        return Find(bytes);
    }

    /// <inheritdoc/>
    object? IFrameAuthenticator.Authenticate(ReadOnlySpan<byte> token) => Find(token);

    private static string Text(JsonElement item, string field, string where) =>
        item.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(value.GetString())
            ? value.GetString()!
            : throw new FormatException($"{where}.{field} must be a non-empty string.");
}
