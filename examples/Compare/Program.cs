// Compare entry point: every generative family on MNIST under one budget. The program itself is
// CompareApp.cs (callable in-process, which is how tests/Examples runs it); this file wires up the
// console and Ctrl-C (which stops the run with exit code 130).
//
//   dotnet run -c Release --project examples/Compare -- --help
using Denoise.Cli;
using Denoise.Examples;

using var ctrlC = CtrlC.Install();
return CompareApp.Run(args, Console.Out, Console.Error, ctrlC.Token);
