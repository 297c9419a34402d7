using KvTier.Cli;

return CommandLine.Run(args);
