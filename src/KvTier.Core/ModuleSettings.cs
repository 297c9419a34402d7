using System.Runtime.CompilerServices;

// Hot paths stackalloc scratch buffers that are always written before they are read.
[module: SkipLocalsInit]
