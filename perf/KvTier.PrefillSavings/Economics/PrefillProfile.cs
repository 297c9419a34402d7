namespace KvTier.PrefillSavings.Economics;

/// <summary>
/// How fast one inference replica prefills: prompt tokens per second for a model on a GPU type (over
/// <see cref="Gpus"/> GPUs when tensor-parallel), a fixed per-request overhead, and what a GPU-hour costs.
/// </summary>
/// <param name="Model">Model preset name (as in <c>kvtier layouts</c>).</param>
/// <param name="Gpu">GPU type.</param>
/// <param name="Gpus">GPUs one replica uses.</param>
/// <param name="PrefillTokensPerSecond">Prompt tokens the replica prefills per second.</param>
/// <param name="OverheadMs">Fixed time to first token besides prefill (scheduling, the first decode step).</param>
/// <param name="UsdPerGpuHour">Price of one GPU-hour.</param>
/// <param name="Source">Where the throughput comes from.</param>
public sealed record PrefillProfile(string Model, string Gpu, int Gpus, double PrefillTokensPerSecond, double OverheadMs,
    double UsdPerGpuHour, string Source)
{
    /// <summary>Seconds of prefill for <paramref name="tokens"/> prompt tokens.</summary>
    public double PrefillSeconds(double tokens) => tokens / PrefillTokensPerSecond;

    /// <summary>GPU-seconds (every GPU of the replica) that prefilling <paramref name="tokens"/> costs.</summary>
    public double GpuSeconds(double tokens) => PrefillSeconds(tokens) * Gpus;

    /// <summary>Dollars that <paramref name="gpuSeconds"/> cost.</summary>
    public double Dollars(double gpuSeconds) => gpuSeconds / 3600 * UsdPerGpuHour;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad field.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Model) || string.IsNullOrWhiteSpace(Gpu))
        {
            throw new ArgumentException($"A prefill profile needs a model and a GPU; got model '{Model}', gpu '{Gpu}'.");
        }

        if (Gpus < 1 || !(PrefillTokensPerSecond > 0) || !double.IsFinite(PrefillTokensPerSecond) || OverheadMs < 0 || UsdPerGpuHour < 0)
        {
            throw new ArgumentException(
                $"Prefill profile {Model} on {Gpu} is invalid: gpus {Gpus} (>= 1), prefillTokensPerSecond {PrefillTokensPerSecond} (> 0), overheadMs {OverheadMs} (>= 0), usdPerGpuHour {UsdPerGpuHour} (>= 0).");
        }
    }
}
