// Idx reader on hand-built IDX byte arrays: the happy path (plain and gzipped) and every corruption
// the reader promises to catch with a clear InvalidDataException.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Data.Idx
using System.Buffers.Binary;
using System.IO.Compression;
using Denoise.Data;
using NUnit.Framework;

namespace Denoise.Tests.Data;

public class IdxTests
{
    internal static byte[] Build(uint magic, uint[] dims, byte[] payload)
    {
        var b = new byte[4 + 4 * dims.Length + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(b, magic);
        for (int i = 0; i < dims.Length; i++) BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4 + 4 * i), dims[i]);
        payload.CopyTo(b, 4 + 4 * dims.Length);
        return b;
    }

    internal static byte[] Gzip(byte[] data)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(data);
        return ms.ToArray();
    }

    static byte[] Seq(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 7)).ToArray();

    [Test]
    public void Images_PlainAndGzip_ParseDimsAndPixels()
    {
        var file = Build(Idx.ImagesMagic, [2, 3, 4], Seq(24));
        foreach (var bytes in new[] { file, Gzip(file) })
        {
            var img = Idx.ParseImages(bytes, "t");
            Assert.That((img.Count, img.Rows, img.Cols), Is.EqualTo((2, 3, 4)));
            Assert.That(img.Pixels, Is.EqualTo(Seq(24)));
        }
    }

    [Test]
    public void Labels_Parse_AndPairCountMismatchIsAnError()
    {
        var labels = Idx.ParseLabels(Build(Idx.LabelsMagic, [3], [1, 2, 9]), "l");
        Assert.That(labels, Is.EqualTo(new byte[] { 1, 2, 9 }));
        var img = Idx.ParseImages(Build(Idx.ImagesMagic, [2, 1, 1], [0, 0]), "i");
        var e = Assert.Throws<InvalidDataException>(() => Idx.CheckPair(img, labels, "i", "l"));
        Assert.That(e!.Message, Does.Contain("2 images").And.Contain("3 labels"));
    }

    [Test]
    public void BadMagic_Throws_NamingExpected()
    {
        var e = Assert.Throws<InvalidDataException>(() => Idx.ParseImages(Build(Idx.LabelsMagic, [1], [0]), "x.idx"));
        Assert.That(e!.Message, Does.Contain("x.idx").And.Contain("0x00000801").And.Contain("0x00000803"));
        e = Assert.Throws<InvalidDataException>(() => Idx.ParseLabels("GIF89a.."u8.ToArray(), "pic"));
        Assert.That(e!.Message, Does.Contain("bad magic"));
    }

    [Test]
    public void TruncatedHeaderAndData_Throw()
    {
        var full = Build(Idx.ImagesMagic, [2, 3, 4], Seq(24));
        Assert.That(Assert.Throws<InvalidDataException>(() => Idx.ParseImages(full[..2], "t"))!.Message, Does.Contain("too short"));
        Assert.That(Assert.Throws<InvalidDataException>(() => Idx.ParseImages(full[..10], "t"))!.Message, Does.Contain("truncated header"));
        Assert.That(Assert.Throws<InvalidDataException>(() => Idx.ParseImages(full[..^1], "t"))!.Message,
            Does.Contain("truncated").And.Contain("need 24").And.Contain("only 23"));
        // Gzipped and cut short: either the inflater or the length check must say so.
        var gz = Gzip(full);
        Assert.Throws<InvalidDataException>(() => Idx.ParseImages(gz[..(gz.Length / 2)], "t.gz"));
    }

    [Test]
    public void TrailingBytes_Throw()
    {
        var e = Assert.Throws<InvalidDataException>(() => Idx.ParseLabels(Build(Idx.LabelsMagic, [2], [1, 2, 3]), "l"));
        Assert.That(e!.Message, Does.Contain("1 unexpected bytes"));
    }

    [Test]
    public void HugeOrOverflowingDims_ThrowBeforeAllocating()
    {
        // 2^32−1 cubed overflows 64 bits if multiplied blindly; 60000×60000×28 exceeds the cap.
        foreach (var dims in new[] { new uint[] { uint.MaxValue, uint.MaxValue, uint.MaxValue }, [60000, 60000, 28] })
        {
            var e = Assert.Throws<InvalidDataException>(() => Idx.ParseImages(Build(Idx.ImagesMagic, dims, []), "big"));
            Assert.That(e!.Message, Does.Contain("cap"));
        }
        Assert.That(Assert.Throws<InvalidDataException>(() => Idx.ParseImages(Build(Idx.ImagesMagic, [1, 0, 5], []), "z"))!.Message,
            Does.Contain("zero dimension"));
    }

    [Test]
    public void ReadFromDisk_MissingFileIsClear()
    {
        var e = Assert.Throws<FileNotFoundException>(() => Idx.ReadLabels("/nonexistent/t10k-labels-idx1-ubyte"));
        Assert.That(e!.Message, Does.Contain("t10k-labels-idx1-ubyte"));
    }
}
