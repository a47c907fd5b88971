// ImageFolder — a folder of the user's own small images as (N, C, S, S) Float32 in [0, 1].
//
//   var faces = ImageFolder.Load("my-pictures", size: 32, channels: 3);   // faces.Data: TensorDataset
//
// Layout (as torchvision's ImageFolder): either images directly in the folder (unlabelled), or one
// subfolder per class (labels 0 … K−1 in ordinal name order; ClassNames lists them). Files are
// taken in ordinal path order, so the same folder always gives the same tensor.
// Formats: PNG through Denoise.IO.Png (8-bit), JPEG through StbImageSharp (a JPEG decoder —
// Huffman, IDCT, chroma upsampling, progressive mode — is a large, well-solved problem; stb_image
// is the one most projects embed). Other extensions are ignored.
//
// Each image is converted to the requested channels (gray = ITU-R BT.601 luma 0.299R + 0.587G +
// 0.114B; gray → RGB by replication; alpha composited over black), then resized so its shorter
// side is S and centre-cropped to S×S, as torchvision's Resize(S) + CenterCrop(S). Resampling is
// separable, on the 8-bit values (not linear light):
//   Area      each output pixel averages the source pixels its footprint covers, weighted by
//             overlap (OpenCV's INTER_AREA for shrinking; exact box filter) — the default, since
//             user images are usually larger than S and bilinear would alias
//   Bilinear  two taps per axis at (o + ½)·scale − ½, edge-clamped (align_corners = false)
// A file that cannot be decoded is an InvalidDataException naming the file.
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~Data.ImageFolder
using Denoise.IO;
using StbImageSharp;

namespace Denoise.Data;

public enum ResizeMode { Area, Bilinear }

public sealed record ImageFolderData(TensorDataset Data, IReadOnlyList<string> ClassNames, IReadOnlyList<string> Files);

public static class ImageFolder
{
    static readonly string[] PngExtensions = [".png"];
    static readonly string[] JpegExtensions = [".jpg", ".jpeg"];

    public static bool IsImageFile(string path)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        return PngExtensions.Contains(ext) || JpegExtensions.Contains(ext);
    }

    /// <summary>Loads every PNG/JPEG under <paramref name="folder"/> as (N, channels, size, size) in [0, 1].</summary>
    public static ImageFolderData Load(string folder, int size, int channels = 3, ResizeMode resize = ResizeMode.Area)
    {
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), $"ImageFolder: size must be ≥ 1, got {size}.");
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), $"ImageFolder: channels must be 1 (gray) or 3 (RGB), got {channels}.");
        if (!Directory.Exists(folder)) throw new DatasetNotFoundException($"ImageFolder: '{folder}' does not exist.");

        var top = Directory.EnumerateFiles(folder).Where(IsImageFile).Order(StringComparer.Ordinal).ToList();
        var classes = Directory.EnumerateDirectories(folder).Order(StringComparer.Ordinal)
            .Select(d => (Name: Path.GetFileName(d), Files: Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories)
                .Where(IsImageFile).Order(StringComparer.Ordinal).ToList()))
            .Where(c => c.Files.Count > 0).ToList();
        if (top.Count > 0 && classes.Count > 0)
            throw new InvalidDataException(
                $"ImageFolder: '{folder}' holds both images ({top.Count}) and class subfolders ({string.Join(", ", classes.Select(c => c.Name))}); " +
                "put every image in a class subfolder, or none.");
        var files = new List<string>();
        var labels = new List<int>();
        if (classes.Count > 0)
            for (int k = 0; k < classes.Count; k++) { files.AddRange(classes[k].Files); labels.AddRange(Enumerable.Repeat(k, classes[k].Files.Count)); }
        else files.AddRange(top);
        if (files.Count == 0)
            throw new DatasetNotFoundException($"ImageFolder: no .png, .jpg or .jpeg files in '{folder}' or its subfolders.");

        int S = size, C = channels;
        using var _ = TensorScope.Suspend();
        var x = Tensor.Empty([files.Count, C, S, S]);
        try
        {
            Parallel.For(0, files.Count, i =>
            {
                var (w, h, c, px) = Decode(files[i]);
                var dst = x.Span.Slice(i * C * S * S, C * S * S);
                ToChannels(w, h, c, px, C, out var planes);
                ResizeCrop(planes, w, h, S, resize, dst);
            });
        }
        catch (AggregateException e)
        {
            // Report one bad file plainly (the first in path order, so the message is stable).
            var first = e.InnerExceptions.OrderBy(ex => ex.Message, StringComparer.Ordinal).First();
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
        var y = classes.Count > 0 ? Tensor.FromArray(labels.ToArray(), labels.Count) : null;
        return new ImageFolderData(new TensorDataset(x, y), classes.Select(c => c.Name).ToList(), files);
    }

    /// <summary>Width, height, channels (1–4) and 8-bit interleaved pixels of a PNG or JPEG file.</summary>
    public static (int Width, int Height, int Channels, byte[] Pixels) Decode(string path)
    {
        try
        {
            if (JpegExtensions.Contains(Path.GetExtension(path).ToLowerInvariant()))
            {
                var bytes = File.ReadAllBytes(path);
                var info = ImageInfo.FromStream(new MemoryStream(bytes))
                    ?? throw new InvalidDataException("not a JPEG StbImageSharp can read");
                if ((long)info.Width * info.Height > Png.MaxPixels)
                    throw new InvalidDataException($"{info.Width}×{info.Height} is larger than the {Png.MaxPixels}-pixel cap");
                var img = ImageResult.FromMemory(bytes, ColorComponents.RedGreenBlue);
                return (img.Width, img.Height, 3, img.Data);
            }
            return Png.Read(path);
        }
        catch (Exception e) when (e is ImageFormatException or InvalidOperationException or InvalidDataException or IndexOutOfRangeException or ArgumentException)
        {
            throw new InvalidDataException($"ImageFolder: cannot decode '{path}': {e.Message}", e);
        }
    }

    /// <summary>Interleaved 8-bit pixels → C planes of floats in [0, 1] (gray luma, RGB, alpha over black).</summary>
    static void ToChannels(int w, int h, int c, byte[] px, int C, out float[][] planes)
    {
        int n = w * h;
        planes = new float[C][];
        for (int k = 0; k < C; k++) planes[k] = new float[n];
        bool hasAlpha = c is 2 or 4;
        int colour = hasAlpha ? c - 1 : c;
        for (int i = 0; i < n; i++)
        {
            int at = i * c;
            float a = hasAlpha ? px[at + c - 1] / 255f : 1f;
            float r = px[at] / 255f, g = colour == 3 ? px[at + 1] / 255f : r, b = colour == 3 ? px[at + 2] / 255f : r;
            if (C == 1) planes[0][i] = a * (0.299f * r + 0.587f * g + 0.114f * b);
            else { planes[0][i] = a * r; planes[1][i] = a * g; planes[2][i] = a * b; }
        }
    }

    /// <summary>Resize (shorter side → S) and centre-crop S×S, plane by plane, into dst (C, S, S).</summary>
    static void ResizeCrop(float[][] planes, int w, int h, int S, ResizeMode mode, Span<float> dst)
    {
        // Resized size: shorter side S, the other in proportion (torchvision rounds down: int(S·long/short)).
        int rw = w <= h ? S : (int)((long)S * w / h), rh = h <= w ? S : (int)((long)S * h / w);
        int left = (int)Math.Round((rw - S) / 2.0), top = (int)Math.Round((rh - S) / 2.0);
        var wx = Taps(w, rw, left, S, mode);
        var wy = Taps(h, rh, top, S, mode);
        var rowsResized = new float[h * S]; // horizontal pass: every source row resampled to S columns
        for (int k = 0; k < planes.Length; k++)
        {
            var src = planes[k];
            for (int r = 0; r < h; r++)
                for (int j = 0; j < S; j++)
                {
                    float acc = 0;
                    foreach (var (idx, wt) in wx[j]) acc += wt * src[r * w + idx];
                    rowsResized[r * S + j] = acc;
                }
            var plane = dst.Slice(k * S * S, S * S);
            for (int i = 0; i < S; i++)
                for (int j = 0; j < S; j++)
                {
                    float acc = 0;
                    foreach (var (idx, wt) in wy[i]) acc += wt * rowsResized[idx * S + j];
                    plane[i * S + j] = Math.Clamp(acc, 0f, 1f);
                }
        }
    }

    /// <summary>For output pixels crop … crop+S−1 of an inSize → outSize resize: the source taps and weights (summing to 1).</summary>
    internal static (int Index, float Weight)[][] Taps(int inSize, int outSize, int crop, int S, ResizeMode mode)
    {
        double scale = (double)inSize / outSize;
        var taps = new (int, float)[S][];
        for (int o = 0; o < S; o++)
        {
            int oo = o + crop;
            var list = new List<(int, float)>();
            if (mode == ResizeMode.Bilinear)
            {
                double c = Math.Clamp((oo + 0.5) * scale - 0.5, 0, inSize - 1);
                int i0 = (int)Math.Floor(c), i1 = Math.Min(i0 + 1, inSize - 1);
                float f = (float)(c - i0);
                list.Add((i0, 1 - f));
                if (i1 != i0 && f > 0) list.Add((i1, f));
            }
            else
            {
                // Footprint [oo·scale, (oo+1)·scale) in source pixels; weight = overlap / footprint.
                double a = oo * scale, b = (oo + 1) * scale;
                for (int i = (int)Math.Floor(a); i < Math.Min((int)Math.Ceiling(b), inSize); i++)
                {
                    double overlap = Math.Min(b, i + 1) - Math.Max(a, i);
                    if (overlap > 1e-12) list.Add((i, (float)(overlap / scale)));
                }
            }
            taps[o] = list.ToArray();
        }
        return taps;
    }
}
