// Tests for engine/IO/SafeTensors.cs and engine/IO/AtomicFile.cs: round trips, a hand-built file
// from the spec (interop with other writers), one test per validation rule, and a fuzz pass over
// random and mutated inputs that must only ever parse or raise SafeTensorsFormatException.
//
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~IO.SafeTensors

using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Denoise.IO;
using NUnit.Framework;

namespace Denoise.Tests.IO;

public class SafeTensorsTests
{
    string dir = "";

    [SetUp] public void SetUp() => dir = Directory.CreateTempSubdirectory("denoise-st-").FullName;
    [TearDown] public void TearDown() => Directory.Delete(dir, recursive: true);

    // ---- Round trips ---------------------------------------------------------------------

    [Test]
    public void Write_ThenRead_RoundTripsDTypesShapesScalarsAndEmptyTensors()
    {
        var entries = new[]
        {
            SafeTensorEntry.FromFloat32("w", [2, 3], [1, -2, 3.5f, 0, float.MaxValue, -0f]),
            SafeTensorEntry.FromFloat64("scalar64", [], [Math.PI]),
            SafeTensorEntry.FromInt64("steps", [3], [long.MinValue, 0, long.MaxValue]),
            SafeTensorEntry.FromInt32("idx", [1, 1, 2], [-7, 42]),
            SafeTensorEntry.FromFloat16("half", [2], [0.5f, -1024f]),
            SafeTensorEntry.FromBFloat16("bf", [2], [1f, -3f]),
            SafeTensorEntry.FromFloat32("empty", [0, 4], []),
            new SafeTensorEntry("bytes", SafeDType.U8, [3], [0, 128, 255]),
            new SafeTensorEntry("mask", SafeDType.BOOL, [2], [1, 0]),
            new SafeTensorEntry("small", SafeDType.I8, [2], [0xFF, 0x7F]),
            new SafeTensorEntry("shorts", SafeDType.I16, [1], [0x00, 0x80]),
        };
        string path = Path.Combine(dir, "model.safetensors");
        SafeTensorsFile.Write(path, entries);
        var read = SafeTensorsFile.Read(path);

        Assert.That(read.Tensors.Select(t => t.Name), Is.EqualTo(entries.Select(e => e.Name).Order(StringComparer.Ordinal)),
            "writer sorts by name, so data order is name order");
        foreach (var e in entries)
        {
            var r = read[e.Name];
            Assert.That(r.DType, Is.EqualTo(e.DType), e.Name);
            Assert.That(r.Shape, Is.EqualTo(e.Shape), e.Name);
            Assert.That(r.Data, Is.EqualTo(e.Data), e.Name);
        }
        Assert.That(read["w"].AsFloat32().ToArray(), Is.EqualTo(new[] { 1, -2, 3.5f, 0, float.MaxValue, -0f }));
        Assert.That(read["scalar64"].ToFloat32Array(), Is.EqualTo(new[] { (float)Math.PI }));
        Assert.That(read["scalar64"].ElementCount, Is.EqualTo(1));
        Assert.That(read["steps"].AsInt64().ToArray(), Is.EqualTo(new[] { long.MinValue, 0, long.MaxValue }));
        Assert.That(read["idx"].ToInt32Array(), Is.EqualTo(new[] { -7, 42 }));
        Assert.That(read["half"].ToFloat32Array(), Is.EqualTo(new[] { 0.5f, -1024f }));
        Assert.That(read["bf"].ToFloat32Array(), Is.EqualTo(new[] { 1f, -3f }));
        Assert.That(read["empty"].ElementCount, Is.EqualTo(0));
        Assert.That(read["bytes"].ToInt32Array(), Is.EqualTo(new[] { 0, 128, 255 }));
        Assert.That(read["mask"].ToInt32Array(), Is.EqualTo(new[] { 1, 0 }));
        Assert.That(read["small"].ToInt32Array(), Is.EqualTo(new[] { -1, 127 }));
        Assert.That(read["shorts"].ToInt32Array(), Is.EqualTo(new[] { short.MinValue }));
    }

    [Test]
    public void Write_PadsHeaderToMultipleOf8_AndMetadataRoundTrips()
    {
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["step"] = "1200", ["note"] = "ünïcode \"quoted\"" };
        byte[] bytes = SafeTensorsFile.ToBytes([SafeTensorEntry.FromFloat32("a", [1], [1f])], metadata);

        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.That(n % 8, Is.EqualTo(0), "header padded so data starts 8-byte aligned");
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.That(header, Does.StartWith("{"));
        Assert.That(header.TrimEnd(' '), Does.EndWith("}"), "only spaces after the JSON object");

        var read = SafeTensorsFile.Read(bytes);
        Assert.That(read.Metadata, Is.EquivalentTo(metadata));
    }

    [Test]
    public void Read_HandBuiltFileFromSpec_Parses()
    {
        // Bytes written by hand from the spec, as another implementation would produce them:
        // a 2-element F32 tensor [1.0, -2.5] with an unpadded header and metadata key first.
        string json = """{"__metadata__":{"k":"v"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";
        var file = new List<byte>();
        file.AddRange(BitConverter.GetBytes((ulong)json.Length));            // u64 little-endian N
        file.AddRange(Encoding.ASCII.GetBytes(json));
        file.AddRange(new byte[] { 0x00, 0x00, 0x80, 0x3F });                 // 1.0f  = 0x3F800000
        file.AddRange(new byte[] { 0x00, 0x00, 0x20, 0xC0 });                 // -2.5f = 0xC0200000

        var read = SafeTensorsFile.Read(file.ToArray());

        Assert.That(read.Tensors, Has.Count.EqualTo(1));
        Assert.That(read["x"].DType, Is.EqualTo(SafeDType.F32));
        Assert.That(read["x"].Shape, Is.EqualTo(new long[] { 2 }));
        Assert.That(read["x"].AsFloat32().ToArray(), Is.EqualTo(new[] { 1.0f, -2.5f }));
        Assert.That(read.Metadata["k"], Is.EqualTo("v"));
    }

    [Test]
    public void Read_NonSeekableStream_MatchesSpanRead()
    {
        byte[] bytes = SafeTensorsFile.ToBytes([SafeTensorEntry.FromInt32("a", [2], [5, 6])]);
        var read = SafeTensorsFile.Read(new NonSeekableStream(bytes));
        Assert.That(read["a"].AsInt32().ToArray(), Is.EqualTo(new[] { 5, 6 }));
    }

    [Test]
    public void Conversions_CheckRanges()
    {
        var big = SafeTensorEntry.FromInt64("big", [1], [1L << 40]);
        Assert.That(() => big.ToInt32Array(), Throws.TypeOf<OverflowException>().With.Message.Contains("big"));
        var u64 = new SafeTensorEntry("u", SafeDType.U64, [1], [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        Assert.That(() => u64.ToInt64Array(), Throws.TypeOf<OverflowException>());
        Assert.That(() => big.AsFloat32().Length, Throws.InvalidOperationException);
        Assert.That(() => big.ToFloat32Array(), Throws.InvalidOperationException);
    }

    [Test]
    public void Fp8Conversions_MatchKnownValues()
    {
        // E4M3FN: 0x38 = 1.0, 0x7E = 448 (max), 0x01 = 2^-9 (min subnormal), 0x7F = NaN.
        var e4 = new SafeTensorEntry("e4", SafeDType.F8_E4M3, [4], [0x38, 0x7E, 0x01, 0x7F]);
        Assert.That(e4.ToFloat32Array(), Is.EqualTo(new[] { 1f, 448f, MathF.Pow(2, -9), float.NaN }));
        // E5M2: 0x3C = 1.0, 0xC0 = -2.0, 0x7C = +inf.
        var e5 = new SafeTensorEntry("e5", SafeDType.F8_E5M2, [3], [0x3C, 0xC0, 0x7C]);
        Assert.That(e5.ToFloat32Array(), Is.EqualTo(new[] { 1f, -2f, float.PositiveInfinity }));
    }

    [Test]
    public void Write_RejectsDataThatDoesNotMatchShape()
    {
        var bad = new SafeTensorEntry("bad", SafeDType.F32, [3], new byte[8]);
        Assert.That(() => SafeTensorsFile.ToBytes([bad]), Throws.ArgumentException.With.Message.Contains("bad"));
        var a = SafeTensorEntry.FromFloat32("dup", [1], [1]);
        Assert.That(() => SafeTensorsFile.ToBytes([a, a]), Throws.ArgumentException.With.Message.Contains("duplicate"));
    }

    // ---- Validation: one case per rule -----------------------------------------------------

    static byte[] FileWithHeader(string json, int dataBytes)
    {
        byte[] header = Encoding.UTF8.GetBytes(json);
        var file = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        return file;
    }

    static string Tensor(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";

    static void AssertRejected(byte[] file, params string[] messageParts)
    {
        var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Read(file, "test.safetensors"))!;
        Assert.That(e.Message, Does.Contain("test.safetensors"));
        foreach (string part in messageParts) Assert.That(e.Message, Does.Contain(part));
    }

    [Test] public void Read_FileShorterThan8Bytes_Throws() => AssertRejected([1, 2, 3], "shorter than");

    [Test]
    public void Read_HeaderLengthPastEndOfFile_Throws()
    {
        var file = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(file, 9);
        AssertRejected(file, "past the end");
    }

    [Test]
    public void Read_HugeHeaderLength_ThrowsWithoutAllocating()
    {
        var file = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(file, ulong.MaxValue);   // would be -1 as a long
        AssertRejected(file, "limit");
        BinaryPrimitives.WriteUInt64LittleEndian(file, 200_000_000);
        AssertRejected(file, "limit");
    }

    [Test]
    public void Read_InvalidUtf8_Throws()
    {
        byte[] file = FileWithHeader("{\"a\":1}", 0);
        file[10] = 0xFF;
        AssertRejected(file, "UTF-8");
    }

    [Test] public void Read_InvalidJson_Throws() => AssertRejected(FileWithHeader("{\"a\":", 0), "JSON");
    [Test] public void Read_HeaderNotObject_Throws() => AssertRejected(FileWithHeader("[1,2]", 0), "object");
    [Test] public void Read_UnknownDType_Throws() => AssertRejected(FileWithHeader("{" + Tensor("t", "F128", "[1]", 0, 16) + "}", 16), "'t'", "F128");
    [Test] public void Read_LowercaseDType_Throws() => AssertRejected(FileWithHeader("{" + Tensor("t", "f32", "[1]", 0, 4) + "}", 4), "unknown dtype");
    [Test] public void Read_NegativeDimension_Throws() => AssertRejected(FileWithHeader("{" + Tensor("t", "F32", "[-1]", 0, 4) + "}", 4), "'t'", "non-negative");
    [Test] public void Read_FractionalDimension_Throws() => AssertRejected(FileWithHeader("{" + Tensor("t", "F32", "[1.5]", 0, 4) + "}", 4), "dimension");

    [Test]
    public void Read_ElementCountOverflow_Throws() =>
        AssertRejected(FileWithHeader("{" + Tensor("t", "F32", "[4294967296,4294967296,4]", 0, 4) + "}", 4), "'t'", "overflow");

    [Test]
    public void Read_DataOffsetsNotTwoIntegers_Throws()
    {
        AssertRejected(FileWithHeader("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4), "'t'", "data_offsets");
        AssertRejected(FileWithHeader("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", 4), "'t'", "data_offsets");
        AssertRejected(FileWithHeader("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4), "'t'", "data_offsets");
        AssertRejected(FileWithHeader("{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "'t'", "data_offsets");
    }

    [Test] public void Read_BeginAfterEnd_Throws() => AssertRejected(FileWithHeader("{" + Tensor("t", "F32", "[1]", 4, 0) + "}", 4), "'t'", "begin 4 > end 0");
    [Test] public void Read_EndBeyondBuffer_Throws() => AssertRejected(FileWithHeader("{" + Tensor("t", "F32", "[2]", 0, 8) + "}", 4), "'t'", "beyond");
    [Test] public void Read_ByteLengthMismatch_Throws() => AssertRejected(FileWithHeader("{" + Tensor("t", "F32", "[2]", 0, 4) + "}", 4), "'t'", "needs 8 bytes");

    [Test]
    public void Read_OverlappingTensors_Throws() =>
        AssertRejected(FileWithHeader("{" + Tensor("a", "F32", "[2]", 0, 8) + "," + Tensor("b", "F32", "[1]", 4, 8) + "}", 8), "overlaps");

    [Test]
    public void Read_GapBetweenTensors_Throws() =>
        AssertRejected(FileWithHeader("{" + Tensor("a", "F32", "[1]", 0, 4) + "," + Tensor("b", "F32", "[1]", 8, 12) + "}", 12), "gap", "'b'");

    [Test]
    public void Read_TrailingBytesAfterLastTensor_Throws() =>
        AssertRejected(FileWithHeader("{" + Tensor("a", "F32", "[1]", 0, 4) + "}", 12), "trailing");

    [Test]
    public void Read_DuplicateNames_Throws() =>
        AssertRejected(FileWithHeader("{" + Tensor("a", "F32", "[1]", 0, 4) + "," + Tensor("a", "F32", "[1]", 4, 8) + "}", 8), "duplicate", "'a'");

    [Test]
    public void Read_MetadataValueNotString_Throws()
    {
        AssertRejected(FileWithHeader("{\"__metadata__\":{\"step\":12}}", 0), "__metadata__", "step");
        AssertRejected(FileWithHeader("{\"__metadata__\":[\"x\"]}", 0), "__metadata__");
    }

    [Test]
    public void Read_UndecodableEscapedName_Throws() =>
        AssertRejected(FileWithHeader("{\"\\uD800\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4), "undecodable");

    [Test]
    public void Read_EmptyHeaderObjectAndSpacePadding_IsValid()
    {
        var read = SafeTensorsFile.Read(FileWithHeader("{}      ", 0));
        Assert.That(read.Tensors, Is.Empty);
        Assert.That(read.Metadata, Is.Empty);
    }

    [Test]
    public void Read_TruncatedFileOnDisk_ThrowsFormatException()
    {
        byte[] bytes = SafeTensorsFile.ToBytes([SafeTensorEntry.FromFloat32("a", [4], [1, 2, 3, 4])]);
        string path = Path.Combine(dir, "cut.safetensors");
        File.WriteAllBytes(path, bytes[..^3]);
        var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Read(path))!;
        Assert.That(e.Message, Does.Contain(path));
    }

    // ---- Fuzz ------------------------------------------------------------------------------

    [Test]
    public void Fuzz_RandomBytes_OnlyParseOrThrowFormatException()
    {
        var rng = new Random(1234);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < 2000; i++)
        {
            var bytes = new byte[rng.Next(0, 300)];
            rng.NextBytes(bytes);
            // Half the cases get a plausible header length so the JSON parser sees garbage too.
            if (bytes.Length >= 8 && i % 2 == 0)
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)rng.Next(0, bytes.Length - 7));
            AssertParsesOrFormatException(bytes, $"random case {i}");
        }
        Assert.That(watch.Elapsed.TotalSeconds, Is.LessThan(3));
    }

    [Test]
    public void Fuzz_MutatedValidFile_OnlyParseOrThrowFormatException()
    {
        byte[] valid = SafeTensorsFile.ToBytes(
        [
            SafeTensorEntry.FromFloat32("layer.weight", [2, 3], [1, 2, 3, 4, 5, 6]),
            SafeTensorEntry.FromInt64("step", [], [7]),
            SafeTensorEntry.FromBFloat16("emb", [2], [0.5f, 0.25f]),
            SafeTensorEntry.FromFloat32("none", [0], []),
        ], new Dictionary<string, string> { ["format"] = "pt" });

        var rng = new Random(99);
        var watch = Stopwatch.StartNew();
        int parsed = 0;
        for (int i = 0; i < 2000; i++)
        {
            var bytes = Mutate(valid, rng);
            if (AssertParsesOrFormatException(bytes, $"mutation {i}")) parsed++;
        }
        Assert.That(watch.Elapsed.TotalSeconds, Is.LessThan(3));
        Assert.That(parsed, Is.GreaterThan(0), "some mutations (e.g. flips inside tensor data) must still parse");
    }

    static byte[] Mutate(byte[] valid, Random rng)
    {
        var bytes = new List<byte>(valid);
        int edits = rng.Next(1, 4);
        for (int e = 0; e < edits; e++)
        {
            switch (rng.Next(5))
            {
                case 0:   // bit flip anywhere
                    if (bytes.Count > 0) { int k = rng.Next(bytes.Count); bytes[k] ^= (byte)(1 << rng.Next(8)); }
                    break;
                case 1:   // truncation
                    bytes = bytes.Take(rng.Next(bytes.Count + 1)).ToList();
                    break;
                case 2:   // byte insertion
                    bytes.Insert(rng.Next(bytes.Count + 1), (byte)rng.Next(256));
                    break;
                case 3:   // header-length edit: small delta, or an absurd value
                    if (bytes.Count >= 8)
                    {
                        var span = bytes.ToArray();
                        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(span);
                        ulong edited = rng.Next(3) switch { 0 => n + (ulong)rng.Next(1, 16), 1 => n - (ulong)rng.Next(1, 16), _ => (ulong)rng.NextInt64() };
                        BinaryPrimitives.WriteUInt64LittleEndian(span, edited);
                        bytes = span.ToList();
                    }
                    break;
                case 4:   // overwrite a header byte with a JSON-significant character
                    if (bytes.Count > 8) bytes[rng.Next(8, bytes.Count)] = (byte)"{}[]\",:-0123456789 e"[rng.Next(20)];
                    break;
            }
        }
        return bytes.ToArray();
    }

    /// <summary>True if parsed; false on SafeTensorsFormatException; any other exception fails the test.</summary>
    static bool AssertParsesOrFormatException(byte[] bytes, string label)
    {
        try
        {
            SafeTensorsFile.Read(bytes, label);
            SafeTensorsFile.Read(new MemoryStream(bytes), label);   // seekable-stream path must agree
            return true;
        }
        catch (SafeTensorsFormatException)
        {
            Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Read(new MemoryStream(bytes), label), label);
            return false;
        }
        catch (Exception e)
        {
            Assert.Fail($"{label}: {e.GetType().Name}: {e.Message}\n{Convert.ToHexString(bytes)}");
            return false;
        }
    }

    // ---- Atomic writes -------------------------------------------------------------------

    [Test]
    public void AtomicWrite_WriterThrowsMidway_KeepsPreviousFileAndLeavesNoTemp()
    {
        string path = Path.Combine(dir, "ckpt.safetensors");
        SafeTensorsFile.Write(path, [SafeTensorEntry.FromFloat32("a", [1], [1f])]);
        byte[] before = File.ReadAllBytes(path);

        Assert.Throws<IOException>(() => AtomicFile.Write(path, stream =>
        {
            stream.Write(new byte[1000]);
            throw new IOException("disk full (simulated)");
        }));

        Assert.That(File.ReadAllBytes(path), Is.EqualTo(before));
        Assert.That(Directory.GetFiles(dir), Is.EqualTo(new[] { path }), "temp file removed");
    }

    [Test]
    public void AtomicWrite_CreatesDirectoryAndOverwrites()
    {
        string path = Path.Combine(dir, "sub", "deeper", "f.bin");
        AtomicFile.WriteAllBytes(path, new byte[] { 1, 2 });
        AtomicFile.WriteAllBytes(path, new byte[] { 3 });
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(new byte[] { 3 }));
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(path)!), Has.Length.EqualTo(1));
    }

    sealed class NonSeekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}
