using System.Text.Json;

namespace KvTier.PrefillSavings.Economics;

/// <summary>Reads prefill-throughput profiles: the file shipped beside the binary, or one the user names.</summary>
public static class PrefillProfiles
{
    /// <summary>The profiles file shipped with the sources (copied beside the binary).</summary>
    public static string ShippedPath => Path.Combine(AppContext.BaseDirectory, "prefill-profiles.json");

    /// <summary>Every profile in <paramref name="path"/>; errors name the file and the entry.</summary>
    public static IReadOnlyList<PrefillProfile> Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Prefill profiles file '{path}' does not exist.", path);
        }

        ProfilesFile? file;
        try
        {
            file = JsonSerializer.Deserialize<ProfilesFile>(File.ReadAllText(path), ReportJson.Options);
        }
        catch (JsonException error)
        {
            throw new InvalidDataException($"Prefill profiles file '{path}' is not valid: {error.Message}", error);
        }

        if (file?.Profiles is not { Count: > 0 } profiles)
        {
            throw new InvalidDataException($"Prefill profiles file '{path}' has no \"profiles\" array.");
        }

        foreach (var profile in profiles)
        {
            profile.Validate();
        }

        return profiles;
    }

    /// <summary>The profile for <paramref name="model"/> on <paramref name="gpu"/> (names compared case-insensitively).</summary>
    public static PrefillProfile Find(IReadOnlyList<PrefillProfile> profiles, string model, string gpu)
    {
        ArgumentNullException.ThrowIfNull(profiles);
        return profiles.FirstOrDefault(p => string.Equals(p.Model, model, StringComparison.OrdinalIgnoreCase)
                && string.Equals(p.Gpu, gpu, StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException(
                $"No prefill profile for model '{model}' on GPU '{gpu}'. Known: {string.Join(", ", profiles.Select(p => $"{p.Model}/{p.Gpu}"))}; add one with --profiles PATH.");
    }

    private sealed record ProfilesFile(List<PrefillProfile>? Profiles);
}
