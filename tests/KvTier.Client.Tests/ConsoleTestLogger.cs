using Microsoft.Extensions.Logging;

namespace KvTier.Client.Tests;

/// <summary>Writes warnings and errors to the test output stream, so a failing test shows why.</summary>
internal sealed class ConsoleTestLogger : ILogger
{
    public static ConsoleTestLogger Instance { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            TestContext.Current.SendDiagnosticMessage($"{logLevel}: {formatter(state, exception)} {exception}");
            Console.Error.WriteLine($"{logLevel}: {formatter(state, exception)} {exception}");
        }
    }
}
