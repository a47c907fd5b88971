// Shared check for the example programs' bad-input contract: exit code 2, one line on stderr
// starting with the program's name, and nothing in --out created, removed or rewritten.
using NUnit.Framework;

namespace Denoise.Tests;

public static class OutFolder
{
    public static Dictionary<string, (byte[] Bytes, DateTime Written)> Snapshot(string dir) =>
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
            .ToDictionary(f => f, f => (File.ReadAllBytes(f), File.GetLastWriteTimeUtc(f)));

    public static void AssertRefused(Func<string[], (int Exit, string Out, string Err)> run, string program,
        string[] args, string dirToKeep, params string[] messageParts)
    {
        var before = Snapshot(dirToKeep);
        var (exit, output, err) = run(args);
        Assert.That(exit, Is.EqualTo(2), $"{string.Join(' ', args)}\n{output}{err}");
        Assert.That(err.TrimEnd().Split('\n'), Has.Length.EqualTo(1), "one line: " + err);
        Assert.That(err, Does.StartWith(program + ": "));
        foreach (var part in messageParts) Assert.That(err, Does.Contain(part));
        var after = Snapshot(dirToKeep);
        Assert.That(after.Keys, Is.EquivalentTo(before.Keys), "no file created or removed");
        foreach (var (f, (bytes, written)) in before)
        {
            Assert.That(after[f].Bytes, Is.EqualTo(bytes), $"{f} unchanged");
            Assert.That(after[f].Written, Is.EqualTo(written), $"{f} not rewritten");
        }
    }
}
