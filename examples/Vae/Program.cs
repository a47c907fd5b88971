// Vae entry point: autoencoders and VAEs on MNIST. The program itself is VaeApp.cs (callable
// in-process, which is how tests/Examples runs it); this file wires up the console and Ctrl-C, which
// asks the training loop to write a checkpoint and exit with code 130.
//
//   dotnet run -c Release --project examples/Vae -- --help
using Denoise.Cli;
using Denoise.Examples;

using var ctrlC = CtrlC.Install();
return VaeApp.Run(args, Console.Out, Console.Error, ctrlC.Token);
