export async function run(): Promise<void> {
  console.log('daemon bench: not written yet')
}
