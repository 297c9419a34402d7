using System.Security.Cryptography;
using KvTier.Core.Hashing;

namespace KvTier.Core.Tests;

public class Sha256DigestTests
{
    [Fact]
    public void Direct_digests_equal_the_runtime_SHA256_for_every_length_up_to_a_few_blocks()
    {
        var random = new Random(11);
        var digest = new byte[32];
        for (var length = 0; length < 300; length++)
        {
            var input = new byte[length];
            random.NextBytes(input);
            Sha256Digest.Hash(input, digest);
            Assert.Equal(SHA256.HashData(input), digest);
        }
    }

    [Fact]
    public void The_direct_libcrypto_path_is_used_on_Linux()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "libcrypto.so.3 is a Linux library.");
        Assert.True(Sha256Digest.UsesLibCrypto, "libcrypto.so.3 should load where .NET's own cryptography runs.");
    }
}
