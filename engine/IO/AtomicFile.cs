// AtomicFile — write a file so that readers see either the old contents or the new, never half.
//
// Recipe (the usual POSIX "write temp, fsync, rename" pattern):
//   1. create a uniquely named temp file in the target's directory (same volume, so the rename
//      below is a metadata-only move and not a copy);
//   2. let the caller write into it, then Flush(flushToDisk: true) so the bytes are durable
//      before the name points at them;
//   3. File.Move(temp, path, overwrite: true) — an atomic replace on the same file system.
// On any exception the temp file is deleted and the exception rethrown; the target is untouched.
//
// Tests: dotnet test tests/Denoise.Tests.csproj -c Release --filter FullyQualifiedName~IO.AtomicFile

namespace Denoise.IO;

public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> atomically; <paramref name="write"/> fills the stream.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);

        string fullPath = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(fullPath)!;
        Directory.CreateDirectory(directory);

        // Leading '.' keeps the temp file out of casual listings; the GUID makes it unique even
        // when two writers target the same path at once.
        string tempPath = Path.Combine(directory, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None,
                                               bufferSize: 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(tempPath, fullPath, overwrite: true);
        }
        catch
        {
            TryDelete(tempPath);
            throw;
        }
    }

    /// <summary>Atomic counterpart of <see cref="File.WriteAllBytes(string, byte[])"/>.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        // A span cannot be captured by the lambda, so copy once; callers with large buffers
        // should prefer Write(path, stream => ...).
        byte[] copy = bytes.ToArray();
        Write(path, stream => stream.Write(copy));
    }

    /// <summary>Atomic counterpart of <see cref="File.WriteAllBytes(string, byte[])"/> (no copy).</summary>
    public static void WriteAllBytes(string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        Write(path, stream => stream.Write(bytes));
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { /* best effort: the original exception matters more */ }
        catch (UnauthorizedAccessException) { }
    }
}
