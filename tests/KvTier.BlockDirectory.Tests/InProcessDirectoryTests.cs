using KvTier.BlockDirectory.InProcess;

namespace KvTier.BlockDirectory.Tests;

public sealed class InProcessDirectoryTests : BlockDirectoryContract
{
    protected override Task<IBlockDirectory> CreateDirectoryAsync() => Task.FromResult<IBlockDirectory>(new InProcessBlockDirectory());
}
