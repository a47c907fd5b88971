// Diffusion entry point: class-conditional MNIST with DDPM, DDIM, rectified flow and reflow. The
// program itself is DiffusionApp.cs (callable in-process, which is how tests/Examples runs it); this
// file only wires up the console and Ctrl-C, which asks the training loop to write a checkpoint and
// exit with code 130.
//
//   dotnet run -c Release --project examples/Diffusion -- --help
using Denoise.Cli;
using Denoise.Examples;

using var ctrlC = CtrlC.Install();
return DiffusionApp.Run(args, Console.Out, Console.Error, ctrlC.Token);
