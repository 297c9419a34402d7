using System.Diagnostics;

namespace KvTier.PrefillSavings.Reporting;

/// <summary>A live progress line: rewritten in place on a terminal (at most ten times a second), or a plain line
/// every few seconds when the output is a file or a pipe.</summary>
public sealed class ProgressLine
{
    private readonly TextWriter writer;
    private readonly bool inPlace;
    private readonly Stopwatch sinceLast = Stopwatch.StartNew();
    private int lastLength;
    private bool pending;

    /// <summary>Writes to <paramref name="writer"/>; <paramref name="inPlace"/> rewrites one line with carriage returns.</summary>
    public ProgressLine(TextWriter writer, bool inPlace)
    {
        this.writer = writer;
        this.inPlace = inPlace;
    }

    /// <summary>A progress line on the console, in place unless stdout is redirected.</summary>
    public static ProgressLine ForConsole() => new(Console.Out, !Console.IsOutputRedirected);

    /// <summary>Shows <paramref name="text"/> unless the last update was too recent (<paramref name="force"/> shows it anyway).</summary>
    public void Update(string text, bool force = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var interval = inPlace ? TimeSpan.FromMilliseconds(100) : TimeSpan.FromSeconds(5);
        if (!force && sinceLast.Elapsed < interval)
        {
            return;
        }

        sinceLast.Restart();
        if (inPlace)
        {
            writer.Write('\r' + text.PadRight(lastLength));
            lastLength = text.Length;
            pending = true;
        }
        else
        {
            writer.WriteLine(text);
        }
    }

    /// <summary>Ends the in-place line so the next output starts on a fresh one.</summary>
    public void Finish()
    {
        if (pending)
        {
            writer.WriteLine();
            pending = false;
            lastLength = 0;
        }
    }
}
