export declare const cliBundleFile: string;
export declare function isFresh(outfile: string, inputsFile?: string): boolean;
export declare function sourcesFile(outfile: string): string;
