namespace KvTier.Core.Layout;

/// <summary>Shapes of a few real models, from their published configurations (num_hidden_layers,
/// num_key_value_heads, head_dim or hidden_size / num_attention_heads, vocab_size).</summary>
public static class ModelPresets
{
    /// <summary>meta-llama/Meta-Llama-3-8B: 32 layers, 8 KV heads of 128.</summary>
    public static ModelPreset Llama3With8B { get; } = new("llama-3-8b", "meta-llama/Meta-Llama-3-8B", 32, 8, 128, 128256);

    /// <summary>meta-llama/Meta-Llama-3-70B: 80 layers, 8 KV heads of 128.</summary>
    public static ModelPreset Llama3With70B { get; } = new("llama-3-70b", "meta-llama/Meta-Llama-3-70B", 80, 8, 128, 128256);

    /// <summary>Qwen/Qwen2.5-7B: 28 layers, 4 KV heads of 128.</summary>
    public static ModelPreset Qwen25With7B { get; } = new("qwen2.5-7b", "Qwen/Qwen2.5-7B", 28, 4, 128, 152064);

    /// <summary>mistralai/Mistral-7B-v0.1: 32 layers, 8 KV heads of 128.</summary>
    public static ModelPreset Mistral7B { get; } = new("mistral-7b", "mistralai/Mistral-7B-v0.1", 32, 8, 128, 32000);

    /// <summary>sentence-transformers/all-MiniLM-L6-v2: 6 layers, 12 heads of 32 (the real model used to capture
    /// KV tensors for codec evaluation).</summary>
    public static ModelPreset MiniLmL6 { get; } = new("minilm-l6", "sentence-transformers/all-MiniLM-L6-v2", 6, 12, 32, 30522);

    /// <summary>A tiny made-up shape for tests: 2 layers, 2 KV heads of 16, 1000 tokens.</summary>
    public static ModelPreset Tiny { get; } = new("tiny", "kvtier/tiny-test-model", 2, 2, 16, 1000);

    /// <summary>Every preset.</summary>
    public static IReadOnlyList<ModelPreset> All { get; } = [Llama3With8B, Llama3With70B, Qwen25With7B, Mistral7B, MiniLmL6, Tiny];

    /// <summary>Finds a preset by its short name (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No preset has that name.</exception>
    public static ModelPreset Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return All.FirstOrDefault(p => string.Equals(p.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException(
                $"Unknown model preset '{name}'. Known: {string.Join(", ", All.Select(p => p.Name))}.", nameof(name));
    }
}
