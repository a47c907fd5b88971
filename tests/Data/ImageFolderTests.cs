// ImageFolder: class subfolders → labels, gray/RGB conversion, area and bilinear resize with
// centre crop, JPEG through StbImageSharp, and clear errors for corrupt files.
// Run: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Data.ImageFolder
using Denoise.Data;
using Denoise.IO;
using NUnit.Framework;

namespace Denoise.Tests.Data;

public class ImageFolderTests
{
    string dir = "";

    [SetUp] public void SetUp() => Directory.CreateDirectory(dir = Path.Combine(Path.GetTempPath(), "denoise-imgfolder-" + Guid.NewGuid().ToString("N")));
    [TearDown] public void TearDown() { try { Directory.Delete(dir, true); } catch (IOException) { } }

    /// <summary>8×6 (w×h) RGB: left half (220, 20, 20), right half (20, 20, 220); cjpeg -quality 100 -sample 1x1.</summary>
    const string Jpeg8x6 = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQH/2wBDAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQH/wAARCAAGAAgDAREAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD+ev8AaG/5lD/uYP8A3CV/oR+wZ/5yr/7wb/8ABhP9UP20v/ONf/eY/wD4FZ//2Q==";

    static void WriteRgb(string path, int w, int h, Func<int, int, (byte, byte, byte)> f)
    {
        var px = new byte[w * h * 3];
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) { var (r, g, b) = f(x, y); px[(y * w + x) * 3] = r; px[(y * w + x) * 3 + 1] = g; px[(y * w + x) * 3 + 2] = b; }
        Png.Write(path, w, h, px);
    }

    [Test]
    public void ClassSubfolders_GiveLabelsInNameOrder_AndRgbValuesInUnitRange()
    {
        Directory.CreateDirectory(Path.Combine(dir, "cats")); Directory.CreateDirectory(Path.Combine(dir, "bats"));
        WriteRgb(Path.Combine(dir, "cats", "a.png"), 4, 4, (_, _) => (255, 0, 0));
        WriteRgb(Path.Combine(dir, "cats", "b.png"), 4, 4, (_, _) => (0, 255, 0));
        WriteRgb(Path.Combine(dir, "bats", "c.png"), 8, 8, (_, _) => (0, 0, 255));
        File.WriteAllText(Path.Combine(dir, "cats", "notes.txt"), "ignored");
        var r = ImageFolder.Load(dir, size: 4);
        Assert.That(r.ClassNames, Is.EqualTo(new[] { "bats", "cats" }));
        Assert.That(r.Data.Images.Shape.ToArray(), Is.EqualTo(new[] { 3, 3, 4, 4 }));
        Assert.That(r.Data.Labels!.ToIntArray(), Is.EqualTo(new[] { 0, 1, 1 }));
        var x = r.Data.Images;
        Assert.That(x[0, 2, 1, 1], Is.EqualTo(1f).Within(1e-6)); // bats/c.png: blue
        Assert.That(x[1, 0, 3, 3], Is.EqualTo(1f).Within(1e-6)); // cats/a.png: red
        Assert.That(x[2, 1, 0, 0], Is.EqualTo(1f).Within(1e-6)); // cats/b.png: green
        Assert.That(x[2, 0, 0, 0], Is.EqualTo(0f));
    }

    [Test]
    public void Gray_IsBt601Luma_AndUnlabelledFolderHasNoLabels()
    {
        WriteRgb(Path.Combine(dir, "one.png"), 2, 2, (_, _) => (100, 150, 200));
        var r = ImageFolder.Load(dir, size: 2, channels: 1);
        Assert.That(r.Data.Labels, Is.Null);
        Assert.That(r.Data.Images.Shape.ToArray(), Is.EqualTo(new[] { 1, 1, 2, 2 }));
        Assert.That(r.Data.Images[0, 0, 1, 1], Is.EqualTo((0.299 * 100 + 0.587 * 150 + 0.114 * 200) / 255).Within(1e-5));
    }

    [Test]
    public void AreaResize_AveragesBlocks_AndCentreCropsTheLongSide()
    {
        // 12×8 image: each 2×2 block constant; shrink to shorter side 4 → 6×4, crop columns 1..4.
        WriteRgb(Path.Combine(dir, "g.png"), 12, 8, (x, y) => { byte v = (byte)(10 * (x / 2) + 40 * (y / 2)); return (v, v, v); });
        var x = ImageFolder.Load(dir, size: 4, channels: 1).Data.Images;
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++)
            Assert.That(x[0, 0, i, j], Is.EqualTo((10 * (j + 1) + 40 * i) / 255f).Within(1e-5), $"({i}, {j})");
        // Bilinear at an exact 2× shrink samples midway between source pixels 2o and 2o+1: the same as area.
        var b = ImageFolder.Load(dir, size: 4, channels: 1, resize: ResizeMode.Bilinear).Data.Images;
        Assert.That(b.ToArray(), Is.EqualTo(x.ToArray()).Within(1e-6));
    }

    [Test]
    public void Taps_SumToOne_InBothModesAndDirections()
    {
        foreach (var mode in new[] { ResizeMode.Area, ResizeMode.Bilinear })
            foreach (var (inSize, outSize) in new[] { (7, 3), (3, 7), (28, 28), (100, 13) })
                foreach (var t in ImageFolder.Taps(inSize, outSize, 0, outSize, mode))
                    Assert.That(t.Sum(w => w.Weight), Is.EqualTo(1f).Within(1e-5), $"{mode} {inSize}->{outSize}");
    }

    [Test]
    public void Jpeg_DecodesThroughStbImageSharp()
    {
        File.WriteAllBytes(Path.Combine(dir, "t.jpg"), Convert.FromBase64String(Jpeg8x6));
        var x = ImageFolder.Load(dir, size: 6).Data.Images; // 8×6 → crop columns 1..6
        Assert.That(x[0, 0, 2, 0], Is.EqualTo(220 / 255f).Within(0.03));
        Assert.That(x[0, 2, 2, 5], Is.EqualTo(220 / 255f).Within(0.03));
        Assert.That(x[0, 1, 2, 2], Is.EqualTo(20 / 255f).Within(0.03));
    }

    [Test]
    public void CorruptImage_ErrorNamesTheFile()
    {
        WriteRgb(Path.Combine(dir, "good.png"), 2, 2, (_, _) => (1, 2, 3));
        File.WriteAllBytes(Path.Combine(dir, "bad.png"), [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3]);
        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(dir, 2));
        Assert.That(e!.Message, Does.Contain("bad.png"));
        File.Delete(Path.Combine(dir, "bad.png"));
        File.WriteAllBytes(Path.Combine(dir, "bad.jpg"), Convert.FromBase64String(Jpeg8x6)[..40]);
        e = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(dir, 2));
        Assert.That(e!.Message, Does.Contain("bad.jpg"));
    }

    [Test]
    public void EmptyOrMixedFolders_AreClearErrors()
    {
        Assert.That(Assert.Throws<DatasetNotFoundException>(() => ImageFolder.Load(dir, 4))!.Message, Does.Contain("no .png"));
        WriteRgb(Path.Combine(dir, "top.png"), 2, 2, (_, _) => (1, 2, 3));
        Directory.CreateDirectory(Path.Combine(dir, "k"));
        WriteRgb(Path.Combine(dir, "k", "in.png"), 2, 2, (_, _) => (1, 2, 3));
        Assert.That(Assert.Throws<InvalidDataException>(() => ImageFolder.Load(dir, 4))!.Message, Does.Contain("both images"));
    }
}
