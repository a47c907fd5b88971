// OptionParser — the small declarative command-line parser every example program uses.
//
// Why not System.CommandLine: the examples need ~10 common options, a few of their own, generated
// --help with defaults, and one-line errors with exit code 2. That is ~200 lines here, readable in
// one sitting and with no NuGet dependency, versus a large API whose defaults (help layout, error
// formatting, exit codes) we would be overriding anyway.
//
// Declare options, parse, then read each option's Value:
//   var cli = new OptionParser("toy2d", "Rectified flow on 2-D data.", "dotnet run -c Release --project examples/Toy2D -- [options]");
//   var steps = cli.Int("--steps", 3000, "training steps", min: 1);
//   var resume = cli.Flag("--resume", "continue from the last checkpoint");
//   if (cli.Parse(args) is { } exit) return exit;     // --help printed (0) or a one-line error (2)
//   int n = steps.Value;
// Syntax: `--name value`, `--name=value`, flags alone; `-h`/`--help`. Each option at most once.
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Tests.Cli

using System.Globalization;
using System.Text;

namespace Denoise.Cli;

/// <summary>A bad command line or run setup: the message is one line naming the option and the problem; exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message)
{
    public const int ExitCode = 2;
}

/// <summary>One declared option. <see cref="Value"/> is the parsed value, or the default when not given.</summary>
public abstract class Option
{
    public string Name { get; }
    public string Help { get; }
    /// <summary>Placeholder shown in --help ("N", "X", "DIR"); null for a flag.</summary>
    public string? ValueName { get; }
    public bool IsSet { get; protected set; }
    internal abstract string? DefaultText { get; }

    protected Option(string name, string help, string? valueName)
    {
        if (!name.StartsWith("--", StringComparison.Ordinal) || name.Length < 3)
            throw new ArgumentException($"option name '{name}' must look like --name");
        Name = name; Help = help; ValueName = valueName;
    }

    /// <summary>Parses and validates <paramref name="text"/>; throws UsageException naming this option.</summary>
    internal abstract void Set(string? text);
    internal abstract void Reset();
}

public sealed class Option<T> : Option
{
    readonly Func<string, (bool Ok, T Value)> parse;
    readonly Func<T, string?>? validate;           // returns the problem, or null when fine
    readonly string expected;
    T value;

    public T Default { get; }
    public T Value => value;

    internal Option(string name, T defaultValue, string help, string? valueName, string expected,
                    Func<string, (bool Ok, T Value)> parse, Func<T, string?>? validate) : base(name, help, valueName)
    {
        Default = value = defaultValue;
        this.parse = parse; this.validate = validate; this.expected = expected;
    }

    internal override string? DefaultText => ValueName == null ? null : Default switch
    {
        null => null,
        string s when s.Length == 0 => null,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        var v => v.ToString(),
    };

    internal override void Set(string? text)
    {
        if (ValueName == null) { value = (T)(object)true; IsSet = true; return; }
        var (ok, parsed) = parse(text!);
        if (!ok) throw new UsageException($"{Name}: '{text}' is not {expected}.");
        if (validate?.Invoke(parsed) is { } problem) throw new UsageException($"{Name}: {problem}");
        value = parsed;
        IsSet = true;
    }

    internal override void Reset() { value = Default; IsSet = false; }
}

public sealed class OptionParser
{
    readonly List<Option> options = [];
    public string Program { get; }
    public string Description { get; }
    public string Usage { get; }
    public IReadOnlyList<Option> Options => options;

    public OptionParser(string program, string description, string usage)
    {
        Program = program; Description = description; Usage = usage;
    }

    // ---- Declarations ------------------------------------------------------------------------

    public Option<T> Add<T>(Option<T> option)
    {
        if (option.Name == "--help" || options.Any(o => o.Name == option.Name))
            throw new ArgumentException($"{Program}: option {option.Name} declared twice");
        options.Add(option);
        return option;
    }

    public Option<int> Int(string name, int defaultValue, string help, int min = int.MinValue, int max = int.MaxValue) =>
        Add(new Option<int>(name, defaultValue, help, "N", "an integer",
            s => (int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v), v),
            v => v < min ? $"{v} is below the minimum {min}." : v > max ? $"{v} is above the maximum {max}." : null));

    /// <summary>A float; <paramref name="positive"/> demands &gt; 0. NaN and infinities are always refused.</summary>
    public Option<float> Float(string name, float defaultValue, string help, bool positive = false,
                               float min = float.NegativeInfinity, float max = float.PositiveInfinity) =>
        Add(new Option<float>(name, defaultValue, help, "X", "a number",
            s => (float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && float.IsFinite(v), v),
            v => positive && !(v > 0) ? $"{v.ToString(CultureInfo.InvariantCulture)} must be positive."
                : v < min ? $"{v.ToString(CultureInfo.InvariantCulture)} is below the minimum {min.ToString(CultureInfo.InvariantCulture)}."
                : v > max ? $"{v.ToString(CultureInfo.InvariantCulture)} is above the maximum {max.ToString(CultureInfo.InvariantCulture)}." : null));

    /// <summary>A string; <paramref name="validate"/> returns the problem with a value (or null).</summary>
    public Option<string> String(string name, string defaultValue, string help, string valueName = "NAME",
                                 Func<string, string?>? validate = null) =>
        Add(new Option<string>(name, defaultValue, help, valueName, "a value", s => (true, s), validate));

    /// <summary>One of a fixed set of names (case-insensitive); the value is the canonical spelling.</summary>
    public Option<string> Choice(string name, string defaultValue, string help, params string[] choices) =>
        Add(new Option<string>(name, defaultValue, help, "NAME", "a name",
            s => (true, choices.FirstOrDefault(c => string.Equals(c, s, StringComparison.OrdinalIgnoreCase)) ?? s),
            v => choices.Contains(v) ? null : $"unknown value '{v}'{Suggest(v, choices)}; choose one of {string.Join(", ", choices)}."));

    public Option<bool> Flag(string name, string help) =>
        Add(new Option<bool>(name, false, help, valueName: null, "", _ => (true, true), null));

    // ---- Parsing -----------------------------------------------------------------------------

    /// <summary>
    /// Parses <paramref name="args"/>. Returns null to go on; otherwise the exit code after printing
    /// --help to <paramref name="output"/> (0) or a one-line error to <paramref name="errors"/> (2).
    /// </summary>
    public int? Parse(string[] args, TextWriter? output = null, TextWriter? errors = null)
    {
        output ??= Console.Out;
        errors ??= Console.Error;
        if (args.Any(a => a is "--help" or "-h")) { output.Write(HelpText()); return 0; }
        try { ParseOrThrow(args); return null; }
        catch (UsageException e) { errors.WriteLine(ErrorLine(e.Message)); return UsageException.ExitCode; }
    }

    /// <summary>"program: message (see --help)" — the one line every usage error prints.</summary>
    public string ErrorLine(string message) => $"{Program}: {message.TrimEnd('.')} (see --help)";

    public void ParseOrThrow(string[] args)
    {
        foreach (var o in options) o.Reset();
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
                throw new UsageException($"unexpected argument '{arg}': options start with --.");
            int eq = arg.IndexOf('=');
            string name = eq > 0 ? arg[..eq] : arg;
            var option = options.FirstOrDefault(o => o.Name == name)
                ?? throw new UsageException($"unknown option {name}{Suggest(name, options.Select(o => o.Name).Append("--help"))}.");
            if (option.IsSet) throw new UsageException($"{name} is given twice.");

            string? text = null;
            if (option.ValueName == null)
            {
                if (eq > 0) throw new UsageException($"{name} is a flag and takes no value (got '{arg[(eq + 1)..]}').");
            }
            else if (eq > 0) text = arg[(eq + 1)..];
            else if (i + 1 < args.Length && !IsOptionName(args[i + 1])) text = args[++i];
            else throw new UsageException($"{name} needs a value ({option.ValueName}).");
            option.Set(text);
        }
    }

    // A following "--something" is the next option, not a value; "-1" or "-0.5" is a value.
    static bool IsOptionName(string s) => s.StartsWith("--", StringComparison.Ordinal);

    /// <summary>"; did you mean --steps?" when a declared name is within a small edit distance.</summary>
    static string Suggest(string given, IEnumerable<string> known)
    {
        var best = known.Select(k => (Name: k, Distance: EditDistance(given.ToLowerInvariant(), k.ToLowerInvariant())))
                        .OrderBy(t => t.Distance).FirstOrDefault();
        int allowed = Math.Max(2, given.Length / 3);
        return best.Name != null && best.Distance <= allowed ? $"; did you mean {best.Name}?" : "";
    }

    /// <summary>Levenshtein distance (insert, delete, substitute each cost 1), one row at a time.</summary>
    static int EditDistance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }

    // ---- Help --------------------------------------------------------------------------------

    public string HelpText()
    {
        var rows = options.Select(o => (Left: o.ValueName == null ? o.Name : $"{o.Name} {o.ValueName}", o.Help, o.DefaultText))
                          .Append(("--help", "this text", null)).ToList();
        int leftWidth = rows.Max(r => r.Left.Length) + 2;
        int helpWidth = rows.Max(r => r.Help.Length) + 2;
        var sb = new StringBuilder();
        sb.AppendLine($"{Program}: {Description}");
        sb.AppendLine($"Usage: {Usage}");
        sb.AppendLine();
        sb.AppendLine("Options:");
        foreach (var (left, help, defaultText) in rows)
        {
            string line = "  " + left.PadRight(leftWidth) + (defaultText == null ? help : help.PadRight(helpWidth) + $"(default {defaultText})");
            sb.AppendLine(line.TrimEnd());
        }
        return sb.ToString();
    }
}
