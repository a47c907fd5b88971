// Gan entry point: DCGAN, WGAN-GP and a conditional GAN on MNIST. The program itself is GanApp.cs
// (callable in-process, which is how tests/Examples runs it); this file wires up the console and
// Ctrl-C, which asks the training loop to write a checkpoint and exit with code 130.
//
//   dotnet run -c Release --project examples/Gan -- --help
using Denoise.Cli;
using Denoise.Examples;

using var ctrlC = CtrlC.Install();
return GanApp.Run(args, Console.Out, Console.Error, ctrlC.Token);
