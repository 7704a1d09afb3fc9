/**
 * A small language guesser for corpus filters (decision 0039): the writing system first, then, for Latin and Cyrillic
 * text, which language's most frequent function words ("the", "und", "les", …) occur most. Function-word counting is
 * the oldest trick in language identification (Ingle 1976; Grefenstette 1995 found it matches trigram models on texts
 * of a sentence or more) and needs no model file. It is meant for filtering documents, not single words: under
 * MIN_WORDS words, or with too few function words, the answer is "und" (undetermined).
 */

export type LanguageGuess = { language: string; confidence: number };

/** Only the first part of a document is read: a language filter needs a paragraph, not a book. */
export const SAMPLE_CHARS = 2_000;
export const MIN_WORDS = 5;
const MIN_FUNCTION_WORDS = 3;

const functionWords: Record<string, string> = {
  en: "the of and to in is that it was for on are with as be this by not or have from at but which an they you were his her",
  de: "der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an werden aus er hat dass sie nach",
  fr: "le la les de des et en un une du est que qui dans pour pas sur au avec il elle ce sont par plus ne se aux",
  es: "el la de que y en los del se las por un para con una su al lo como más pero sus le es ya o fue este ha",
  it: "il di che e la per un in una sono del non si le da con della gli al come anche nel ma ha più dei questo",
  pt: "de a o que e do da em um para com não uma os no se na por mais as dos como mas ao ele das à seu sua",
  nl: "de en het van een in is dat op te zijn met voor niet die aan er ook als bij door maar om dan hij uit",
  sv: "och i att det som en på är av för med till den har de inte om ett han men var jag sig från vi så",
  pl: "i w na z że do się nie to jest o jak po co ale przez od dla za są tak już jego tylko był może",
  ru: "и в не на что с по как это он к но из у за то от же так все она для бы его было мы вы",
  uk: "і в не на що з та як це до він у але за від же так все вона для би його було ми ви є",
};

const wordSets = new Map(Object.entries(functionWords).map(([language, words]) => [language, new Set(words.split(" "))]));
const cyrillicLanguages = new Set(["ru", "uk"]);
/** word → the languages (of one script family) that list it: one lookup per word of the text. */
function owners(cyrillicFamily: boolean): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [language, set] of wordSets) {
    if (cyrillicLanguages.has(language) !== cyrillicFamily) continue;
    for (const word of set) out.set(word, [...(out.get(word) ?? []), language]);
  }
  return out;
}
const latinOwners = owners(false);
const cyrillicOwners = owners(true);

/** Languages the filter can name: the function-word ones and the script-decided ones below. */
export const SUPPORTED_LANGUAGES = [...wordSets.keys(), "zh", "ja", "ko", "el", "he", "ar", "hi", "th"].sort();

// A script that settles the language by itself (or the family it is filtered by).
const scripts: Array<[RegExp, string]> = [
  [/\p{sc=Hangul}/u, "ko"],
  [/[\p{sc=Hiragana}\p{sc=Katakana}]/u, "ja"],
  [/\p{sc=Han}/u, "zh"],
  [/\p{sc=Greek}/u, "el"],
  [/\p{sc=Hebrew}/u, "he"],
  [/\p{sc=Arabic}/u, "ar"],
  [/\p{sc=Devanagari}/u, "hi"],
  [/\p{sc=Thai}/u, "th"],
];
const latin = /\p{sc=Latin}/u;
const cyrillic = /\p{sc=Cyrillic}/u;
const letter = /\p{L}/u;
const words = /[\p{L}\p{M}']+/gu;

/**
 * The most likely language of a text and a confidence in [0, 1]. For script-decided languages the confidence is the
 * script's share of the letters (Japanese counts kana and the kanji with it); for Latin and Cyrillic text it is the
 * best language's share of the function words found (shared words split between their languages), so "the" among
 * French words lowers it.
 */
export function detectLanguage(text: string): LanguageGuess {
  const sample = text.length > SAMPLE_CHARS ? text.slice(0, SAMPLE_CHARS) : text;
  const counts = new Map<string, number>();
  let letters = 0;
  let latinLetters = 0;
  let cyrillicLetters = 0;
  for (const ch of sample) {
    // ASCII without a regex: most of a Latin-script corpus, and a per-character regex test was most of this function's time.
    const code = ch.charCodeAt(0);
    if (code < 0x80) {
      if ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x7a) {
        letters++;
        latinLetters++;
      }
      continue;
    }
    if (!letter.test(ch)) continue;
    letters++;
    if (ch < "\u0250") {
      if (latin.test(ch)) latinLetters++;
      continue;
    }
    if (cyrillic.test(ch)) {
      cyrillicLetters++;
      continue;
    }
    for (const [pattern, language] of scripts) {
      if (pattern.test(ch)) {
        counts.set(language, (counts.get(language) ?? 0) + 1);
        break;
      }
    }
  }
  if (letters === 0) return { language: "und", confidence: 0 };
  // Japanese is written with kanji (Han) and kana together: any kana makes the Han letters Japanese.
  const kana = counts.get("ja") ?? 0;
  if (kana > 0) {
    counts.set("ja", kana + (counts.get("zh") ?? 0));
    counts.delete("zh");
  }
  let bestScript = "";
  let bestScriptCount = 0;
  for (const [language, n] of counts) if (n > bestScriptCount) [bestScript, bestScriptCount] = [language, n];
  if (bestScriptCount > latinLetters + cyrillicLetters) return { language: bestScript, confidence: bestScriptCount / letters };

  const family = cyrillicLetters > latinLetters ? cyrillicOwners : latinOwners;
  const found = sample.toLowerCase().match(words) ?? [];
  if (found.length < MIN_WORDS) return { language: "und", confidence: 0 };
  // A word several languages share ("de", "la", "en") counts 1/k for each of its k languages: distinctive words decide.
  const hits = new Map<string, number>();
  let functionWordCount = 0;
  for (const word of found) {
    const languages = family.get(word);
    if (!languages) continue;
    functionWordCount++;
    for (const language of languages) hits.set(language, (hits.get(language) ?? 0) + 1 / languages.length);
  }
  if (functionWordCount < MIN_FUNCTION_WORDS) return { language: "und", confidence: 0 };
  let best = "und";
  let bestHits = 0;
  for (const [language, n] of hits) if (n > bestHits) [best, bestHits] = [language, n];
  return { language: best, confidence: bestHits / functionWordCount };
}
