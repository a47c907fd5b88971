// Evaluate entry point: every MNIST image metric of a samples file. The program itself is
// EvaluateApp.cs (callable in-process, which is how tests/Metrics runs it).
//
//   dotnet run -c Release --project examples/Evaluate -- --samples runs/ddpm/samples.safetensors
using Denoise.Examples;

return EvaluateApp.Run(args, Console.Out, Console.Error);
