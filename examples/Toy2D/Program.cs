// Toy2D entry point: rectified flow, reflow, DDPM and DDIM on 2-D data. The program itself is Toy2DApp.cs
// (callable in-process, which is how tests/Cli runs it); this file only wires up the console and
// Ctrl-C, which asks the training loop to write a checkpoint and exit with code 130.
//
//   dotnet run -c Release --project examples/Toy2D -- --help
using Denoise.Cli;
using Denoise.Examples;

using var ctrlC = CtrlC.Install();
return Toy2DApp.Run(args, Console.Out, Console.Error, ctrlC.Token);
