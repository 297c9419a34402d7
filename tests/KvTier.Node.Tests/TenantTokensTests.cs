using System.Text;
using KvTier.Core;
using KvTier.Node.Security;

namespace KvTier.Node.Tests;

public sealed class TenantTokensTests
{
    private static readonly string AcmeHash = TenantTokens.HashOf("acme-token");

    [Fact]
    public void A_token_is_found_by_its_hash_with_its_tenant_namespaces_and_admin_flag()
    {
        var tokens = TenantTokens.Parse($$"""
            { "tokens": [
              { "tenant": "acme", "sha256": "{{AcmeHash}}", "namespaces": ["00000000000000ff"] },
              { "tenant": "ops", "sha256": "{{TenantTokens.HashOf("ops-token")}}", "namespaces": ["*"], "admin": true }
            ] }
            """);

        var acme = tokens.Find("acme-token")!;
        Assert.Equal("acme", acme.Tenant);
        Assert.False(acme.Admin);
        Assert.True(acme.MayUse(new NamespaceId(0xff)));
        Assert.False(acme.MayUse(new NamespaceId(0xfe)));
        var ops = tokens.Find(Encoding.UTF8.GetBytes("ops-token"))!;
        Assert.True(ops.Admin);
        Assert.True(ops.MayUse(new NamespaceId(0xfe)));
        Assert.Null(tokens.Find("acme-token "));
        Assert.Null(tokens.Find(AcmeHash)); // the hash itself is not a token
    }

    [Theory]
    [InlineData("""{ "tokens": [] }""", "at least one token")]
    [InlineData("""{ "tokens": [ { "sha256": "HASH", "namespaces": ["*"] } ] }""", "tokens[0].tenant")]
    [InlineData("""{ "tokens": [ { "tenant": "a", "sha256": "abc", "namespaces": ["*"] } ] }""", "tokens[0].sha256 must be 64 hex digits")]
    [InlineData("""{ "tokens": [ { "tenant": "a", "sha256": "HASH" } ] }""", "tokens[0].namespaces")]
    [InlineData("""{ "tokens": [ { "tenant": "a", "sha256": "HASH", "namespaces": ["llama"] } ] }""", "'llama'")]
    [InlineData("""{ "tokens": [ { "tenant": "a", "sha256": "HASH", "namespaces": ["*"] }, { "tenant": "b", "sha256": "HASH", "namespaces": ["*"] } ] }""", "tokens[1].sha256 repeats")]
    public void An_invalid_entry_is_named(string json, string expected)
    {
        var error = Assert.Throws<FormatException>(() => TenantTokens.Parse(json.Replace("HASH", AcmeHash, StringComparison.Ordinal)));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unreadable_file_is_named()
    {
        var path = Path.Combine(Path.GetTempPath(), $"kvtier-no-such-tokens-{Guid.NewGuid():n}.json");
        var error = Assert.Throws<InvalidDataException>(() => TenantTokens.Load(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }
}
