export declare const cliBundleFile: string;
export declare function isFresh(outfile: string, inputsFile?: string): boolean;
